"""The website widget: `/widget.js`, a chat bubble a shop puts on its own site with one
script tag (it talks to the HTTP API with a public key), and the check of the signed
customer ids a shop's site may pass to it."""
