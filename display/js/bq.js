/* branchq screens: the shared client.
 *
 * One live connection per screen: a WebSocket that reconnects with exponential
 * backoff, resumes by sequence number (the server answers with what was missed
 * or with a new snapshot), says hello and heartbeats so the manager page can see
 * the screen, and exposes the latest branch view. Also: i18n (Chinese by
 * default, ?lang=en), time formatting in the branch's timezone, the
 * "data as of" stamp and the "connection lost" banner.
 *
 * Memory stays bounded on a screen that runs all day: the client keeps one view
 * (replaced, never appended to) and the pages update fixed DOM nodes in place.
 */
(function (global) {
  "use strict";

  const params = new URLSearchParams(location.search);
  const lang = params.get("lang") === "en" ? "en" : "zh";

  // ------------------------------------------------------------ credentials
  // A kiosk or display gets its device token once, as ?token=…: kept in this
  // browser (per kind of page and branch), removed from the address bar, and sent
  // on every REST call (Authorization: Bearer) and on the WebSocket (?token=).
  // People (teller console, manager page) sign in at /login: their session is an
  // HttpOnly cookie the browser sends by itself, which no script can read.
  const pathHead = location.pathname.split("/").filter(Boolean).slice(0, 2).join("/");
  const TOKEN_KEY = "branchq.token." + pathHead;
  const FOR_PEOPLE = /^(teller|manager)\//.test(pathHead);
  let token = params.get("token");
  if (token) {
    try { localStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode: this page load only */ }
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  } else {
    try { token = localStorage.getItem(TOKEN_KEY); } catch (e) { token = null; }
  }
  function authHeaders(headers) {
    if (token) headers.Authorization = "Bearer " + token;
    return headers;
  }
  // A person whose session ended goes to the sign-in form, then comes back here.
  function signInAgain() {
    if (FOR_PEOPLE) location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";

  // ------------------------------------------------------------------ i18n
  const TEXT = {
    zh: {
      calling: "请{ticket}号到{counter}",
      callingSay: "请{ticket}号到{counter}办理",
      nowCalling: "正在叫号",
      recentCalls: "最近叫号",
      waiting: "等候",
      people: "{n}人",
      peopleWaiting: "等候{n}人",
      noCounter: "暂无窗口办理此业务",
      free: "空闲",
      freeLine: "请等候叫号",
      callingState: "叫号中",
      callingLine: "请{ticket}号到此窗口",
      serving: "正在办理",
      wrapup: "后台处理中",
      wrapupLine: "上笔业务还未办结",
      paused: "临时暂停",
      returnAt: "预计{time}恢复",
      closed: "暂停服务",
      asOf: "数据更新于 {time}",
      lost: "连接中断,正在重新连接…(数据截至 {time})",
      connecting: "正在连接…",
      services: "业务",
      waitRange: "预计等候",
      counter: "{id}号窗口",
      soundOff: "点击屏幕启用声音",
      noToken: "此屏幕没有有效的设备令牌,请用网点经理提供的链接(含 ?token=)打开。",
    },
    en: {
      calling: "Ticket {ticket} to {counter}",
      callingSay: "Ticket {ticket}, please go to {counter}",
      nowCalling: "Now calling",
      recentCalls: "Recent calls",
      waiting: "Waiting",
      people: "{n}",
      peopleWaiting: "{n} waiting",
      noCounter: "No counter serves this now",
      free: "Open",
      freeLine: "Next number soon",
      callingState: "Calling",
      callingLine: "Ticket {ticket}, please come here",
      serving: "Serving",
      wrapup: "Back-office work",
      wrapupLine: "Finishing the last transaction",
      paused: "Paused",
      returnAt: "Back about {time}",
      closed: "Closed",
      asOf: "Data as of {time}",
      lost: "Connection lost, reconnecting… (data as of {time})",
      connecting: "Connecting…",
      services: "Service",
      waitRange: "Expected wait",
      counter: "Counter {id}",
      soundOff: "Tap to enable sound",
      noToken: "This screen has no valid device token: open it with the link (with ?token=) a manager gave you.",
    },
  };

  function t(key, vars, forLang) {
    const table = TEXT[forLang || lang];
    let s = (table && table[key]) || TEXT.zh[key] || key;
    if (vars) for (const k in vars) s = s.split("{" + k + "}").join(String(vars[k]));
    return s;
  }
  function extend(more) {
    for (const l of ["zh", "en"]) Object.assign(TEXT[l], more[l] || {});
  }

  // ------------------------------------------------------------ paths, time
  function pathParts() {
    return location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  }
  let timeZone = "Asia/Shanghai";
  const fmtCache = new Map();
  function fmt(opts) {
    const key = timeZone + JSON.stringify(opts);
    let f = fmtCache.get(key);
    if (!f) {
      try {
        f = new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone, hourCycle: "h23" }, opts));
      } catch (e) {
        f = new Intl.DateTimeFormat("en-GB", Object.assign({ hourCycle: "h23" }, opts));
      }
      fmtCache.set(key, f);
    }
    return f;
  }
  function toDate(v) {
    if (v == null || v === "") return null;
    const d = v instanceof Date ? v : new Date(v);
    return isNaN(d.getTime()) ? null : d;
  }
  function hhmm(v) {
    const d = toDate(v);
    return d ? fmt({ hour: "2-digit", minute: "2-digit" }).format(d) : "";
  }
  function hhmmss(v) {
    const d = toDate(v);
    return d ? fmt({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(d) : "";
  }
  function dateLine(v) {
    const d = toDate(v) || new Date();
    if (lang === "en") {
      return new Intl.DateTimeFormat("en-GB", { timeZone, weekday: "short", day: "numeric", month: "short" }).format(d);
    }
    return new Intl.DateTimeFormat("zh-CN", { timeZone, month: "long", day: "numeric", weekday: "short" }).format(d);
  }
  function minutes(seconds) {
    return Math.max(0, Math.round(seconds / 60));
  }

  // ------------------------------------------------------------------ view
  // The server's snapshot, normalised so the pages read one shape:
  //   {seq, at, branch, name, timezone, services:[{id,name,name_en,prefix,priority,waiting,join}],
  //    counters:[{id,name,name_en,status,since,ticket,services,pause_reason,expected_return,
  //               served_today,estimate}], queues:{service:[{ticket,issued_at,estimate}]},
  //    recent_calls:[{ts,ticket,counter,recall}]}
  function asList(v) {
    if (Array.isArray(v)) return v;
    if (v && typeof v === "object") return Object.keys(v).map((k) => Object.assign({ id: k }, v[k]));
    return [];
  }
  function normalize(raw) {
    const v = raw && (raw.state || raw.view || raw.snapshot || raw);
    const cfg = v.config || {};
    const services = asList(v.services || cfg.services).map((s) => Object.assign({}, s, {
      id: String(s.id),
      waiting: s.waiting != null ? s.waiting : (s.waiting_count != null ? s.waiting_count : null),
      join: s.join || s.estimate || null,
    }));
    const counters = asList(v.counters || cfg.counters).map((c) => Object.assign({}, c, {
      id: String(c.id),
      status: c.status || c.state || "closed",
      estimate: c.estimate || null,
    }));
    let queues = v.queues || v.waiting || {};
    if (Array.isArray(queues)) {
      const byService = {};
      for (const w of queues) (byService[w.service] = byService[w.service] || []).push(w);
      queues = byService;
    }
    for (const s of services) {
      if (Array.isArray(s.tickets) && !queues[s.id]) queues[s.id] = s.tickets;
      const q = queues[s.id];
      if (s.waiting == null) s.waiting = Array.isArray(q) ? q.length : 0;
    }
    // Calls oldest first, whatever order the server lists them in.
    const calls = (v.recent_calls || v.calls || []).slice();
    if (calls.length > 1 && (toDate(calls[0].ts) || 0) > (toDate(calls[calls.length - 1].ts) || 0)) calls.reverse();
    calls.sort((a, b) => (toDate(a.ts) || 0) - (toDate(b.ts) || 0));
    const tz = v.timezone || cfg.timezone;
    if (tz && tz !== timeZone) { timeZone = tz; fmtCache.clear(); }
    return {
      seq: raw.seq != null ? raw.seq : v.seq,
      at: v.at || v.now || v.ts || null,
      branch: v.branch || cfg.branch,
      name: v.name || v.branch_name || cfg.name || "",
      timezone: timeZone,
      services,
      counters,
      queues,
      recent_calls: calls.slice(-12),
      raw: v,
    };
  }
  function serviceById(view, id) {
    return view.services.find((s) => s.id === id) || { id, name: id, prefix: id };
  }
  function counterById(view, id) {
    return view.counters.find((c) => c.id === id) || { id, name: id, status: "closed" };
  }
  function label(obj) {
    if (!obj) return "";
    return lang === "en" ? (obj.name_en || obj.name || obj.id) : (obj.name || obj.id);
  }
  function counterLabel(c, forLang) {
    const l = forLang || lang;
    if (!c) return "";
    if (l === "en") return c.name_en || t("counter", { id: c.id }, "en");
    return c.name || t("counter", { id: c.id }, "zh");
  }
  // An estimate's text in the screen's language; "" when none is known.
  function estText(e) {
    if (!e) return "";
    return (lang === "en" ? e.text_en : e.text_zh) || e.text || "";
  }
  function whyText(e) {
    if (!e) return "";
    return (lang === "en" ? e.why_en : e.why_zh) || "";
  }

  // ------------------------------------------------------------------ API
  function api(branch, path) {
    return "/api/v1/branches/" + encodeURIComponent(branch) + "/" + path;
  }
  function uuid() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store", headers: authHeaders({}) });
    const body = await r.json().catch(() => ({}));
    if (r.status === 401) signInAgain();
    if (!r.ok) throw apiError(r.status, body);
    return body;
  }
  function apiError(status, body) {
    const d = (body && body.detail) || body || {};
    const msg = typeof d === "string" ? d
      : (lang === "zh" ? (d.message_zh || d.message) : (d.message || d.message_zh)) ||
        (Array.isArray(d) ? d.map((x) => x.msg).join("; ") : "") || ("HTTP " + status);
    const err = new Error(msg);
    err.status = status;
    err.body = body;
    return err;
  }
  // POST with an Idempotency-Key chosen once per click: a network retry or a
  // double click reuses the key, so the server acts once and repeats its answer.
  async function postJSON(url, body, key) {
    const headers = authHeaders({ "Content-Type": "application/json" });
    if (key) headers["Idempotency-Key"] = key;
    let lastErr;
    for (let attempt = 0; attempt < 3; attempt++) {
      let r;
      try {
        r = await fetch(url, { method: "POST", headers, body: JSON.stringify(body || {}) });
      } catch (e) { // network: retry with the same key
        lastErr = e;
        await new Promise((res) => setTimeout(res, 300 * (attempt + 1)));
        continue;
      }
      const data = await r.json().catch(() => ({}));
      if (r.status === 401) signInAgain();
      if (!r.ok) throw apiError(r.status, data);
      return data;
    }
    throw lastErr;
  }

  // ------------------------------------------------------------- live view
  const LOST_BANNER_AFTER_MS = 10000;
  const PING_EVERY_MS = 15000;
  const SILENT_LIMIT_MS = 45000;

  class Live {
    /* opts: branch, screen ("lobby", "counter", "kiosk", ...), id ("3"), onView(view, why),
     * onEvent(event, view), onStatus(connected); ticket ("A012") and onTicket(ticket) for a
     * phone's status page, which without a token gets only its own ticket. */
    constructor(opts) {
      this.opts = opts;
      this.branch = opts.branch;
      this.seq = null;
      this.view = null;
      this.ws = null;
      this.attempt = 0;
      this.connected = false;
      this.lostSince = Date.now();
      this.lastData = null; // Date of the last message from the server
      this.lastHeard = 0;
      this.lastPing = 0;
      this.pongs = false;
      this.refreshTimer = null;
      this.refreshing = false;
      this.refreshAgain = false;
      this._tick = setInterval(() => this._watch(), 1000);
      // The network is back: do not wait for the backoff.
      global.addEventListener("online", () => { if (!this.ws) { this.attempt = 0; this.connect(); } });
      this.connect();
    }

    url() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      let u = proto + "//" + location.host + "/ws/v1/branches/" + encodeURIComponent(this.branch);
      const q = new URLSearchParams();
      if (this.seq != null) q.set("since", String(this.seq));
      if (this.opts.ticket) q.set("ticket", this.opts.ticket);
      if (token) q.set("token", token);
      return u + "?" + q.toString();
    }

    connect() {
      clearTimeout(this.retryTimer);
      let ws;
      try {
        ws = new WebSocket(this.url());
      } catch (e) {
        this._retry();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        this.attempt = 0;
        this.lastPing = Date.now();
        this.lastHeard = Date.now();
        this.hello();
        // Resuming with nothing missed, the server sends nothing: the view we hold is current.
        if (this.view) { this.lastData = new Date(); this._setConnected(true); }
      };
      ws.onmessage = (m) => this._message(m.data);
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        // 4401: no or bad credentials; 4403: not for this branch. Say so (people: sign in again).
        this.refused = ev.code === 4401 || ev.code === 4403 ? (ev.reason || "") : null;
        if (ev.code === 4401) signInAgain();
        this._setConnected(false);
        this._retry();
      };
      ws.onerror = () => { try { ws.close(); } catch (e) { /* closing anyway */ } };
    }

    // Tell the server what this screen is (the manager page lists screens and heartbeats).
    hello(screen, id) {
      if (screen) this.opts.screen = screen;
      if (id !== undefined) this.opts.id = id;
      this._send({ type: "hello", screen: this.opts.screen || "screen", id: this.opts.id == null ? null : String(this.opts.id),
                   lang, path: location.pathname });
    }

    _retry() {
      // 0.5 s, 1 s, 2 s ... capped at 8 s, with jitter so screens do not stampede
      const base = Math.min(8000, 500 * Math.pow(2, this.attempt++));
      this.retryTimer = setTimeout(() => this.connect(), base * (0.75 + Math.random() * 0.5));
    }

    _send(obj) {
      if (this.ws && this.ws.readyState === 1) {
        try { this.ws.send(JSON.stringify(obj)); } catch (e) { /* reconnect will follow */ }
      }
    }

    _setConnected(on) {
      if (on === this.connected) return;
      this.connected = on;
      if (!on) this.lostSince = Date.now();
      if (this.opts.onStatus) this.opts.onStatus(on);
    }

    _watch() {
      const now = Date.now();
      if (this.connected && now - this.lastPing > PING_EVERY_MS) this._ping();
      // A half-open socket: the server answers pings, yet nothing came for long.
      if (this.connected && this.pongs && now - this.lastHeard > SILENT_LIMIT_MS && this.ws) {
        this.ws.close();
      }
      updateBanner(this);
    }

    _ping() {
      this.lastPing = Date.now();
      this._send({ type: "ping", screen: this.opts.screen, seq: this.seq });
    }

    _message(text) {
      let msg;
      try {
        msg = JSON.parse(text);
      } catch (e) {
        // Python's json writes NaN/Infinity, which JSON.parse rejects: read them as null
        // rather than drop the whole view (and silently stop updating).
        try { msg = JSON.parse(text.replace(/([:\[,]\s*)(-?Infinity|NaN)(?=\s*[,}\]])/g, "$1null")); } catch (e2) { return; }
        console.warn("branchq: the server sent non-JSON numbers (NaN/Infinity); read as null");
      }
      this.lastHeard = Date.now();
      const type = msg.type;
      if (type === "pong") {
        this.pongs = true;
        if (this.opts.ticket || (this.view && (msg.seq == null || msg.seq === this.seq))) this.lastData = new Date(); // still current
        else if (msg.seq != null && this.seq != null && msg.seq > this.seq) this.scheduleRefresh(); // missed something
        return;
      }
      if (type === "ticket") { // a phone's feed: its own ticket (null once the day has turned)
        this.refused = null;
        this._setConnected(true);
        this.lastData = new Date();
        if (this.opts.onTicket) this.opts.onTicket(msg.ticket);
        updateBanner(this);
        return;
      }
      if (type === "snapshot") {
        this.refused = null;
        this.seq = msg.seq != null ? msg.seq : this.seq;
        this._setConnected(true);
        this.lastPing = Date.now();
        this._setView(normalize(msg), "snapshot");
        return;
      }
      if (type === "event" || type === "events") {
        this._setConnected(true);
        const seq = msg.seq;
        if (seq != null && this.seq != null && seq <= this.seq) return; // already seen
        if (seq != null && this.seq != null && seq > this.seq + 1 && !(msg.view || msg.state)) {
          // A gap: resume from what we have; the server sends the rest or a snapshot.
          if (this.ws) this.ws.close();
          return;
        }
        if (seq != null) this.seq = seq;
        const ev = msg.event || msg.data || null;
        const evs = msg.events || (ev ? [ev] : []);
        // The server puts the view after an action on its last event ("view": null before it).
        if (msg.view || msg.state) this._setView(normalize(msg.view || msg.state), "event");
        else if (!("view" in msg)) this.scheduleRefresh();
        if (this.opts.onEvent) for (const e of evs) this.opts.onEvent(e, this.view);
        return;
      }
      if (type === "refresh") { // wait texts age even without events: the server resends the view
        this._setConnected(true);
        this._setView(normalize(msg), "refresh");
        return;
      }
      if (msg.view || msg.state) {
        this._setConnected(true);
        this._setView(normalize(msg.view || msg.state), "view");
      }
    }

    _setView(view, why) {
      this.view = view;
      this.lastData = new Date();
      if (this.opts.onView) this.opts.onView(view, why);
      updateBanner(this);
    }

    // An event without the new view: fetch the state once things settle a little.
    scheduleRefresh(delay) {
      if (this.refreshTimer) return;
      this.refreshTimer = setTimeout(() => { this.refreshTimer = null; this.refresh(); }, delay == null ? 60 : delay);
    }

    async refresh() {
      if (this.refreshing) { this.refreshAgain = true; return; }
      this.refreshing = true;
      try {
        const st = await getJSON(api(this.branch, "state"));
        const v = normalize(st);
        if (v.seq == null || this.seq == null || v.seq >= this.seq) this._setView(v, "refresh");
      } catch (e) { /* the socket's state decides the banner */ }
      this.refreshing = false;
      if (this.refreshAgain) { this.refreshAgain = false; this.scheduleRefresh(); }
    }
  }

  // --------------------------------------------------- stamp and lost banner
  function updateBanner(live) {
    const stamp = document.getElementById("bq-stamp");
    const banner = document.getElementById("bq-lost");
    const asOf = live.lastData ? hhmmss(live.lastData) : "--:--:--";
    if (stamp) stamp.textContent = live.lastData ? t("asOf", { time: asOf }) : t("connecting");
    if (banner) {
      const refused = live.refused != null && !live.connected;
      const lost = refused || (!live.connected && Date.now() - live.lostSince > LOST_BANNER_AFTER_MS);
      banner.hidden = !lost;
      if (refused) banner.textContent = t("noToken") + (live.refused ? " (" + live.refused + ")" : "");
      else if (lost) banner.textContent = t("lost", { time: asOf });
      document.body.classList.toggle("bq-offline", lost);
    }
  }

  // ------------------------------------------------------------ DOM helpers
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }
  // Keep a container's children keyed by id: reuse nodes, drop the stale ones.
  function syncChildren(container, items, keyOf, make, update) {
    const have = new Map();
    for (const child of Array.from(container.children)) have.set(child.dataset.key, child);
    let prev = null;
    for (const item of items) {
      const key = String(keyOf(item));
      let node = have.get(key);
      if (node) have.delete(key);
      else { node = make(item); node.dataset.key = key; }
      update(node, item);
      const want = prev ? prev.nextSibling : container.firstChild;
      if (want !== node) container.insertBefore(node, want);
      prev = node;
    }
    for (const stale of have.values()) stale.remove();
  }

  function startClock(node, withDate) {
    const tick = () => {
      setText(node.querySelector(".bq-time") || node, hhmm(new Date()));
      const d = node.querySelector(".bq-date");
      if (d && withDate) setText(d, dateLine(new Date()));
    };
    tick();
    setInterval(tick, 1000);
  }

  global.BQ = {
    lang, params, t, extend, pathParts, hhmm, hhmmss, dateLine, toDate, minutes,
    normalize, serviceById, counterById, label, counterLabel, estText, whyText,
    api, uuid, getJSON, postJSON, Live, el, setText, syncChildren, startClock, authHeaders,
    get timeZone() { return timeZone; },
  };
})(window);
