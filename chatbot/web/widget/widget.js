/*
 * The support chat's website widget: a chat bubble and a small chat panel that a shop adds
 * to its own pages with one tag (every option is in the README, "Website widget"):
 *
 *   <script src="https://bot.example/widget.js" data-key="cb_pub_..." async></script>
 *
 * It talks to the bot's HTTP API (/api/v1) with the public key: starts a conversation,
 * sends the customer's messages, renders the streamed answer (Server-Sent Events) as it
 * arrives and the sources under it. Everything lives in a Shadow DOM, so the shop's styles
 * do not reach it, and every text from the server is set as text, never as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');

  var LABELS = {
    en: {
      open: "Open the support chat",
      close: "Close the chat",
      title: "Support chat",
      log: "Conversation",
      input: "Your question",
      placeholder: "Type your question…",
      send: "Send",
      suggestions: "Suggested questions",
      welcome: "Hello! Ask a question and I will answer from the shop's help articles.",
      typing: "The assistant is writing an answer",
      sources: "Sources",
      page: function (n) { return "page " + n; },
      you: "You",
      bot: "Assistant",
      staff: "Support team",
      error: "Sorry, the chat is not available right now. Please try again in a moment.",
      notSent: "Sorry, your message was not sent. Please send it again in a moment.",
      rateLimited: "You are sending messages very quickly. Please wait a moment and try again.",
    },
    zh: {
      open: "打开在线客服",
      close: "关闭聊天",
      title: "在线客服",
      log: "对话",
      input: "您的问题",
      placeholder: "请输入您的问题…",
      send: "发送",
      suggestions: "常见问题",
      welcome: "您好！请提出您的问题，我会根据本店的帮助文章为您解答。",
      typing: "客服助手正在回复",
      sources: "参考来源",
      page: function (n) { return "第 " + n + " 页"; },
      you: "您",
      bot: "客服助手",
      staff: "客服人员",
      error: "抱歉，在线客服暂时无法使用，请稍后再试。",
      notSent: "抱歉，您的消息未能发送，请稍后重新发送。",
      rateLimited: "您发送消息太快了，请稍等片刻再试。",
    },
  };
  var POLL_MS = 5000; // how often a handed-off conversation looks for a staff reply

  function language(value) {
    var lang = String(value || "auto").toLowerCase();
    if (lang === "auto") lang = String((navigator.languages || [])[0] || navigator.language || "en").toLowerCase();
    return lang.indexOf("zh") === 0 ? "zh" : "en";
  }

  function readConfig() {
    var given = window.ChatbotWidget && typeof window.ChatbotWidget === "object" ? window.ChatbotWidget : {};
    var data = (script && script.dataset) || {};
    function pick(name) { return data[name] !== undefined ? data[name] : given[name]; }
    var own = script && script.src ? new URL(script.src, location.href).origin : location.origin;
    var questions = pick("questions");
    if (typeof questions === "string") questions = questions.split("|");
    questions = (Array.isArray(questions) ? questions : [])
      .map(function (q) { return String(q).trim(); })
      .filter(Boolean)
      .slice(0, 6);
    var expires = pick("customerExpires");
    return {
      baseUrl: String(pick("baseUrl") || own).replace(/\/+$/, ""),
      key: String(pick("key") || "").trim(),
      lang: language(pick("lang")),
      position: pick("position") === "left" ? "left" : "right",
      title: pick("title") ? String(pick("title")) : "",
      welcome: pick("welcome") ? String(pick("welcome")) : "",
      accent: pick("accent") ? String(pick("accent")) : "",
      questions: questions,
      customerId: pick("customerId") ? String(pick("customerId")) : "",
      customerSignature: pick("customerSignature") ? String(pick("customerSignature")) : "",
      customerExpires: expires !== undefined && expires !== "" ? Number(expires) : null,
    };
  }

  var CSS = [
    ":host { all: initial; }",
    "* { box-sizing: border-box; }",
    "[hidden] { display: none !important; }",
    ".root { --accent: var(--chatbot-accent, #2563eb); --accent-text: var(--chatbot-accent-text, #ffffff);",
    "  --bg: var(--chatbot-background, #ffffff); --fg: var(--chatbot-text, #1f2937);",
    "  --bot: var(--chatbot-bot-background, #f3f4f6); --radius: var(--chatbot-radius, 14px);",
    "  font-family: var(--chatbot-font, system-ui, -apple-system, 'Segoe UI', Roboto, 'PingFang SC', 'Microsoft YaHei', sans-serif);",
    "  font-size: 15px; line-height: 1.45; color: var(--fg); display: flex; flex-direction: column; gap: 12px; }",
    ".root.right { align-items: flex-end; } .root.left { align-items: flex-start; }",
    "button { font: inherit; cursor: pointer; }",
    "button:focus-visible, textarea:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }",
    ".bubble { width: 58px; height: 58px; border-radius: 50%; border: none; background: var(--accent); color: var(--accent-text);",
    "  display: grid; place-items: center; box-shadow: 0 6px 20px rgba(0,0,0,.25); }",
    ".bubble svg { width: 28px; height: 28px; fill: currentColor; }",
    ".panel { width: min(370px, calc(100vw - 32px)); height: min(560px, calc(100vh - 120px)); background: var(--bg);",
    "  border-radius: var(--radius); box-shadow: 0 10px 40px rgba(0,0,0,.28); display: flex; flex-direction: column; overflow: hidden; }",
    "header { background: var(--accent); color: var(--accent-text); padding: 12px 14px; display: flex; align-items: center; justify-content: space-between; }",
    "header h2 { font-size: 16px; margin: 0; font-weight: 600; }",
    ".close { background: transparent; border: none; color: inherit; font-size: 22px; line-height: 1; padding: 2px 6px; border-radius: 6px; }",
    ".log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 10px; }",
    ".msg { max-width: 85%; padding: 8px 12px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }",
    ".msg.customer { align-self: flex-end; background: var(--accent); color: var(--accent-text); }",
    ".msg.bot, .msg.staff, .msg.welcome { align-self: flex-start; background: var(--bot); }",
    ".msg.staff { border-left: 3px solid var(--accent); }",
    ".msg.error { align-self: flex-start; background: #fef2f2; color: #991b1b; }",
    ".who { display: block; font-size: 12px; opacity: .7; margin-bottom: 2px; }",
    ".sources { margin-top: 6px; font-size: 13px; white-space: normal; }",
    ".sources ul { margin: 2px 0 0; padding-left: 18px; }",
    ".sources a { color: var(--accent); }",
    ".typing { display: inline-flex; gap: 4px; padding: 4px 0; }",
    ".typing i { width: 7px; height: 7px; border-radius: 50%; background: currentColor; opacity: .4; animation: blink 1.2s infinite; }",
    ".typing i:nth-child(2) { animation-delay: .2s; } .typing i:nth-child(3) { animation-delay: .4s; }",
    "@keyframes blink { 50% { opacity: 1; } }",
    "@media (prefers-reduced-motion: reduce) { .typing i { animation: none; opacity: .7; } }",
    ".suggestions { display: flex; flex-wrap: wrap; gap: 6px; }",
    ".suggestions button { background: var(--bg); color: var(--accent); border: 1px solid var(--accent); border-radius: 16px; padding: 4px 10px; font-size: 14px; }",
    "form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid rgba(0,0,0,.1); }",
    "textarea { flex: 1; resize: none; font: inherit; color: var(--fg); background: var(--bg); border: 1px solid rgba(0,0,0,.25); border-radius: 10px; padding: 8px 10px; max-height: 120px; }",
    ".send { background: var(--accent); color: var(--accent-text); border: none; border-radius: 10px; padding: 0 14px; }",
  ].join("\n");

  var CHAT_ICON = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function safeLink(url) {
    try {
      var parsed = new URL(url);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  /* Server-Sent Events from a fetch body: calls onEvent(name, data) per event. */
  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var step = await reader.read();
      buffer += decoder.decode(step.value || new Uint8Array(), { stream: !step.done });
      var blocks = buffer.replace(/\r\n/g, "\n").split("\n\n");
      buffer = step.done ? "" : blocks.pop();
      blocks.forEach(function (block) {
        var name = "message";
        var data = [];
        block.split("\n").forEach(function (line) {
          if (!line || line[0] === ":") return; // a keep-alive comment
          var colon = line.indexOf(":");
          var field = colon < 0 ? line : line.slice(0, colon);
          var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") name = value;
          else if (field === "data") data.push(value);
        });
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      });
      if (step.done) return;
    }
  }

  function ApiFailure(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  function Widget(config) {
    this.config = config;
    this.t = LABELS[config.lang];
    this.busy = false;
    this.seen = {}; // ids of the messages shown (a staff reply found by polling is new)
    this.storageKey = "chatbot-widget:" + config.baseUrl + ":" + config.key;
    this.conversation = this.load();
    this.build();
  }

  Widget.prototype.load = function () {
    try {
      var saved = JSON.parse(sessionStorage.getItem(this.storageKey) || "null");
      // A different signed-in customer (or none) starts a conversation of its own.
      return saved && saved.customerId === this.config.customerId ? saved : null;
    } catch (e) {
      return null; // storage blocked: the conversation lasts as long as the page
    }
  };

  Widget.prototype.save = function () {
    try {
      if (this.conversation) sessionStorage.setItem(this.storageKey, JSON.stringify(this.conversation));
      else sessionStorage.removeItem(this.storageKey);
    } catch (e) {
      /* storage blocked */
    }
  };

  Widget.prototype.build = function () {
    var t = this.t;
    var self = this;
    var host = document.createElement("chatbot-widget");
    var side = this.config.position;
    // Inline and important: the shop's own rules for the page's elements must not move it.
    host.style.setProperty("position", "fixed", "important");
    host.style.setProperty("z-index", "2147483000", "important");
    host.style.setProperty("bottom", "20px", "important");
    host.style.setProperty(side, "20px", "important");
    if (this.config.accent) host.style.setProperty("--chatbot-accent", this.config.accent);
    var shadow = host.attachShadow({ mode: "open" });
    shadow.appendChild(el("style", {}, CSS));
    var root = el("div", { class: "root " + side, lang: this.config.lang });

    this.panel = el("section", { class: "panel", id: "chatbot-panel", role: "dialog", "aria-label": this.config.title || t.title });
    this.panel.hidden = true;
    var header = el("header");
    header.appendChild(el("h2", {}, this.config.title || t.title));
    var close = el("button", { type: "button", class: "close", "aria-label": t.close }, "×");
    close.addEventListener("click", function () { self.close(); });
    header.appendChild(close);
    this.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t.log });
    this.form = el("form");
    this.input = el("textarea", { rows: "1", "aria-label": t.input, placeholder: t.placeholder });
    this.sendButton = el("button", { type: "submit", class: "send" }, t.send);
    this.form.appendChild(this.input);
    this.form.appendChild(this.sendButton);
    this.panel.appendChild(header);
    this.panel.appendChild(this.log);
    this.panel.appendChild(this.form);

    this.bubble = el("button", { type: "button", class: "bubble", "aria-label": t.open, "aria-expanded": "false", "aria-controls": "chatbot-panel" });
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", CHAT_ICON);
    svg.appendChild(path);
    this.bubble.appendChild(svg);
    this.bubble.addEventListener("click", function () { if (self.panel.hidden) self.open(); else self.close(); });

    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submit();
    });
    this.input.addEventListener("keydown", function (event) {
      // Enter sends, Shift+Enter is a new line; not while an input method is composing.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        self.submit();
      }
    });
    root.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !self.panel.hidden) {
        event.preventDefault();
        self.close();
      }
    });

    root.appendChild(this.panel);
    root.appendChild(this.bubble);
    shadow.appendChild(root);
    document.body.appendChild(host);
  };

  Widget.prototype.open = function () {
    if (!this.started) {
      this.started = true;
      this.greet();
    }
    this.panel.hidden = false;
    this.bubble.setAttribute("aria-expanded", "true");
    this.bubble.setAttribute("aria-label", this.t.close);
    this.input.focus();
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.close = function () {
    this.panel.hidden = true;
    this.bubble.setAttribute("aria-expanded", "false");
    this.bubble.setAttribute("aria-label", this.t.open);
    this.bubble.focus();
  };

  Widget.prototype.greet = function () {
    var self = this;
    this.log.appendChild(el("div", { class: "msg welcome" }, this.config.welcome || this.t.welcome));
    if (this.config.questions.length) {
      this.suggestions = el("div", { class: "suggestions", role: "group", "aria-label": this.t.suggestions });
      this.config.questions.forEach(function (question) {
        var button = el("button", { type: "button" }, question);
        button.addEventListener("click", function () { self.send(question); });
        self.suggestions.appendChild(button);
      });
      this.log.appendChild(this.suggestions);
    }
    if (this.conversation) this.restore();
  };

  Widget.prototype.message = function (author, text) {
    var node = el("div", { class: "msg " + author });
    var names = { customer: this.t.you, bot: this.t.bot, staff: this.t.staff };
    node.appendChild(el("span", { class: "who" }, names[author] || ""));
    var body = el("span", { class: "text" }, text || "");
    node.appendChild(body);
    this.log.appendChild(node);
    this.log.scrollTop = this.log.scrollHeight;
    return { node: node, body: body };
  };

  Widget.prototype.showSources = function (node, sources) {
    if (!sources || !sources.length) return;
    var t = this.t;
    var box = el("div", { class: "sources" });
    box.appendChild(el("span", {}, t.sources));
    var list = el("ul");
    sources.forEach(function (source) {
      var item = el("li");
      var href = source.url ? safeLink(source.url) : null;
      var title = href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, source.title) : el("span", {}, source.title);
      item.appendChild(title);
      if (source.page) item.appendChild(document.createTextNode(", " + t.page(source.page)));
      list.appendChild(item);
    });
    box.appendChild(list);
    node.appendChild(box);
  };

  Widget.prototype.failure = function (error) {
    var code = error && error.code;
    if (error && error.message && window.console) console.warn("Chatbot widget:", code || "", error.message);
    var text = code === "rate_limited" ? this.t.rateLimited : code === "not_sent" ? this.t.notSent : this.t.error;
    var shown = el("div", { class: "msg error", role: "alert" }, text);
    this.log.appendChild(shown);
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.request = async function (method, path, body, extra) {
    var headers = Object.assign({ Authorization: "Bearer " + this.config.key }, extra || {});
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var response = await fetch(this.config.baseUrl + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      mode: "cors",
    });
    if (!response.ok) {
      var detail = {};
      try {
        detail = (await response.json()).error || {};
      } catch (e) {
        /* not JSON */
      }
      throw new ApiFailure(response.status, detail.code || "http_" + response.status, detail.message || response.statusText);
    }
    return response;
  };

  Widget.prototype.tokenHeader = function () {
    return { "X-Conversation-Token": this.conversation.token };
  };

  Widget.prototype.ensureConversation = async function () {
    if (this.conversation) return;
    var body = {};
    if (this.config.customerId) {
      body.customer_id = this.config.customerId;
      body.customer_signature = this.config.customerSignature || null;
      body.customer_expires = this.config.customerExpires;
    }
    var created = await (await this.request("POST", "/api/v1/conversations", body)).json();
    this.conversation = { id: created.id, token: created.token, customerId: this.config.customerId };
    this.save();
  };

  Widget.prototype.restore = async function () {
    try {
      var path = "/api/v1/conversations/" + encodeURIComponent(this.conversation.id);
      var found = await (await this.request("GET", path, undefined, this.tokenHeader())).json();
      this.render(found);
    } catch (error) {
      if (error instanceof ApiFailure && (error.status === 403 || error.status === 404)) {
        this.conversation = null; // gone (purged) or from another server: start afresh
        this.save();
      }
    }
  };

  Widget.prototype.render = function (conversation) {
    var self = this;
    conversation.messages.forEach(function (m) {
      if (self.seen[m.id]) return;
      self.seen[m.id] = true;
      var shown = self.message(m.author, m.text);
      if (m.author === "bot") self.showSources(shown.node, m.sources);
    });
    if (conversation.messages.length && this.suggestions) this.suggestions.hidden = true;
    if (conversation.handed_off) this.poll();
  };

  /* A handed-off conversation: staff replies appear within a few seconds. */
  Widget.prototype.poll = function () {
    var self = this;
    if (this.polling) return;
    this.polling = setInterval(async function () {
      if (self.panel.hidden || self.busy || !self.conversation) return;
      try {
        var path = "/api/v1/conversations/" + encodeURIComponent(self.conversation.id);
        var found = await (await self.request("GET", path, undefined, self.tokenHeader())).json();
        found.messages = found.messages.filter(function (m) { return m.author === "staff"; });
        self.render(found);
      } catch (e) {
        /* tried again at the next tick */
      }
    }, POLL_MS);
  };

  Widget.prototype.submit = function () {
    var text = this.input.value.trim();
    if (!text) return;
    // Sent while an answer streams: it stays in the box and goes when the answer is done.
    if (this.busy) {
      this.queued = true;
      return;
    }
    this.input.value = "";
    this.send(text);
  };

  Widget.prototype.send = async function (text) {
    if (this.busy) return;
    this.busy = true;
    if (this.suggestions) this.suggestions.hidden = true;
    this.message("customer", text);
    var answer = this.message("bot", "");
    var typing = el("span", { class: "typing", role: "status", "aria-label": this.t.typing });
    typing.appendChild(el("i"));
    typing.appendChild(el("i"));
    typing.appendChild(el("i"));
    answer.body.appendChild(typing);
    try {
      await this.answer(text, answer);
    } catch (error) {
      if (!answer.body.textContent) answer.node.remove(); // what was shown of it stays
      if (error && error.code === "not_sent" && !this.input.value) this.input.value = text;
      this.failure(error);
    } finally {
      this.busy = false;
    }
    if (this.queued) {
      this.queued = false;
      this.submit();
    }
  };

  Widget.prototype.answer = async function (text, answer) {
    var self = this;
    var response;
    for (var attempt = 0; ; attempt++) {
      await this.ensureConversation();
      var path = "/api/v1/conversations/" + encodeURIComponent(this.conversation.id) + "/messages";
      try {
        response = await this.request("POST", path, { text: text, stream: true }, Object.assign({ Accept: "text/event-stream" }, this.tokenHeader()));
        break;
      } catch (error) {
        // A stored conversation the server no longer has (purged): once, with a new one.
        if (attempt > 0 || !(error instanceof ApiFailure) || (error.status !== 403 && error.status !== 404)) throw error;
        this.conversation = null;
        this.save();
      }
    }
    var shown = "";
    var final = null;
    var failed = null;
    var textNode = document.createTextNode("");
    await readEvents(response, function (name, data) {
      if (name === "delta" && data.text) {
        if (!shown) answer.body.replaceChildren(textNode);
        shown += data.text;
        textNode.data = shown;
        self.log.scrollTop = self.log.scrollHeight;
      } else if (name === "final") {
        final = data;
      } else if (name === "error") {
        failed = new ApiFailure(200, data.code, data.message);
      }
    });
    if (failed) throw failed;
    if (!final) throw new ApiFailure(200, "incomplete", "the answer stream ended early");
    answer.body.replaceChildren(textNode);
    textNode.data = final.text || shown;
    answer.node.setAttribute("data-decision", final.decision);
    if (final.message_id) this.seen[final.message_id] = true;
    this.showSources(answer.node, final.sources);
    this.log.scrollTop = this.log.scrollHeight;
    if (final.decision === "handoff") this.poll();
  };

  function start() {
    if (document.querySelector("chatbot-widget")) return; // a second copy of the tag does nothing
    var config = readConfig();
    if (!config.key) {
      console.error("Chatbot widget: no key. Add data-key=\"cb_pub_...\" (a customer key: chatbot keys create NAME --role customer) to the script tag.");
      return;
    }
    if (config.key.indexOf("cb_pub_") !== 0) {
      console.error("Chatbot widget: the key is not a public customer key (cb_pub_...). A staff key must never be put in a web page; revoke it and create a customer key.");
      return;
    }
    new Widget(config);
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
