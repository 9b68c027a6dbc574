"""Cross-site and proxy protections for the served app (see `install.install_web_security`).

The package itself imports nothing: settings validate their values with `origins`, which is
plain standard library, without pulling in the web stack.
"""
