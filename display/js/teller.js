/* The teller console: pick a counter; big buttons and keys for every action;
 * the queue for the counter's services; its day's figures.
 *
 * Each click gets its own Idempotency-Key (reused by the client's retries), so
 * a double click or a retried request acts once; the button is also held busy
 * until the answer comes.
 */
(function () {
  "use strict";
  const { t, el, setText, syncChildren } = BQ;
  const branch = BQ.pathParts()[1] || BQ.params.get("branch") || "demo";
  const $ = (id) => document.getElementById(id);
  const STORE = "branchq.teller." + branch;

  BQ.extend({
    zh: {
      pick: "窗口", current: "当前号码", queueTitle: "本窗口等候队列", figTitle: "本窗口今日", more: "还有{n}人",
      served: "已办结", meanService: "平均办理", noShows: "过号", meanWait: "平均等候", opened: "开窗时间",
      min: "{n}分钟", waited: "已等{n}分钟", pauseTitle: "暂停窗口", returnIn: "预计多久恢复", cancel: "取消", ok: "暂停",
      transferTitle: "转到哪项业务", tookOver: "已接替{who}的窗口", done: "已完成:{what}", confirmClose: "确定关闭窗口?关闭后大屏显示“暂停服务”。",
      noReturn: "不确定", reasons: "午餐,会议,系统故障,临时离开",
      a_call: "叫号", a_recall: "重呼", a_start: "开始办理", a_finish: "办结", a_finish_wrapup: "办结·后台处理",
      a_wrapup_start: "后台处理", a_wrapup_done: "后台办结", a_noshow: "过号", a_transfer: "转办", a_pause: "暂停",
      a_resume: "恢复", a_open: "开窗", a_close: "关窗",
    },
    en: {
      pick: "Counter", current: "Current ticket", queueTitle: "Waiting for this counter", figTitle: "This counter today", more: "{n} more",
      served: "Served", meanService: "Mean service", noShows: "No-shows", meanWait: "Mean wait", opened: "Opened at",
      min: "{n} min", waited: "{n} min", pauseTitle: "Pause the counter", returnIn: "Back in", cancel: "Cancel", ok: "Pause",
      transferTitle: "Transfer to which service", tookOver: "Took the counter over from {who}", done: "Done: {what}", confirmClose: "Close this counter? Screens will show it as closed.",
      noReturn: "Not sure", reasons: "Lunch,Meeting,System fault,Away briefly",
      a_call: "Call next", a_recall: "Recall", a_start: "Start", a_finish: "Finish", a_finish_wrapup: "Finish + back office",
      a_wrapup_start: "Back office", a_wrapup_done: "Back office done", a_noshow: "No-show", a_transfer: "Transfer", a_pause: "Pause",
      a_resume: "Resume", a_open: "Open", a_close: "Close",
    },
  });

  // id, label key, key, API action, body, states it is allowed in, style
  const ACTIONS = [
    ["call", "a_call", "N", "call-next", null, ["free"], "main-act"],
    ["recall", "a_recall", "R", "recall", null, ["calling"], ""],
    ["start", "a_start", "S", "start", null, ["calling"], "main-act"],
    ["noshow", "a_noshow", "X", "no-show", null, ["calling"], "warn"],
    ["finish", "a_finish", "F", "finish", { wrapup: false }, ["serving"], "main-act"],
    ["finish_wrapup", "a_finish_wrapup", "W", "finish", { wrapup: true }, ["serving"], ""],
    ["transfer", "a_transfer", "T", "transfer", "dialog", ["calling", "serving"], ""],
    ["wrapup_start", "a_wrapup_start", "B", "wrapup-start", null, ["free"], ""],
    ["wrapup_done", "a_wrapup_done", "D", "wrapup-done", null, ["wrapup"], "main-act"],
    ["pause", "a_pause", "P", "pause", "dialog", ["free", "wrapup"], "warn"],
    ["resume", "a_resume", "U", "resume", null, ["paused"], "main-act"],
    ["open", "a_open", "O", "open", null, ["closed"], "main-act"],
    ["close", "a_close", "C", "close", "confirm", ["free", "wrapup", "paused"], "warn"],
  ];

  let view = null;
  let counterId = BQ.params.get("counter") || localStorage.getItem(STORE) || null;
  let busy = false;
  let figures = null;
  let figuresAt = 0;
  let signedTo = null; // the counter this session is signed in to (a teller may act only there)
  let choosing = Promise.resolve();

  setText($("pick-label"), t("pick"));
  setText($("cur-label"), t("current"));
  setText($("queue-title"), t("queueTitle"));
  setText($("fig-title"), t("figTitle"));
  BQ.startClock($("clock"), false);

  // ------------------------------------------------------------ buttons
  const buttons = {};
  for (const [id, labelKey, key, , , , style] of ACTIONS) {
    const b = el("button", "act " + style);
    b.type = "button";
    b.dataset.action = id;
    b.append(el("span", "", t(labelKey)), el("kbd", "", key));
    b.addEventListener("click", () => run(id));
    $("actions").append(b);
    buttons[id] = b;
  }

  function current() { return view && counterId ? BQ.counterById(view, counterId) : null; }

  function message(text, isError) {
    const m = $("msg");
    setText(m, text);
    m.classList.toggle("err", !!isError);
  }

  async function send(action, body, labelKey) {
    const c = current();
    if (!c || busy) return;
    busy = true;
    const key = BQ.uuid();
    refreshButtons();
    try {
      await choosing;
      await BQ.postJSON(BQ.api(branch, "counters/" + encodeURIComponent(c.id) + "/" + action), body || {}, key);
      message(t("done", { what: t(labelKey) }));
      figuresAt = 0;
    } catch (e) {
      message(e.message, true);
    } finally {
      busy = false;
      refreshButtons();
    }
  }

  function run(id) {
    const a = ACTIONS.find((x) => x[0] === id);
    const c = current();
    if (!a || !c || !a[5].includes(c.status) || busy) return;
    const [, labelKey, , action, body] = a;
    if (body === "dialog" && action === "pause") return openPause();
    if (body === "dialog" && action === "transfer") return openTransfer();
    if (body === "confirm" && !confirm(t("confirmClose"))) return;
    send(action, body && typeof body === "object" ? body : {}, labelKey);
  }

  function refreshButtons() {
    const c = current();
    for (const [id, , , , , states] of ACTIONS) {
      const b = buttons[id];
      b.disabled = !c || busy || !states.includes(c.status);
      b.classList.toggle("busy", busy);
    }
  }

  // ------------------------------------------------------------ dialogs
  let pauseMinutes = 15;
  function chip(text, on, click) {
    const b = el("button", "chip" + (on ? " on" : ""), text);
    b.type = "button";
    b.addEventListener("click", click);
    return b;
  }
  function openPause() {
    const dlg = $("pause-dlg");
    setText($("pause-title"), t("pauseTitle"));
    setText($("return-title"), t("returnIn"));
    setText($("pause-cancel"), t("cancel"));
    setText($("pause-ok"), t("ok"));
    const reasons = $("reasons");
    reasons.textContent = "";
    for (const r of t("reasons").split(",")) reasons.append(chip(r, false, () => { $("reason").value = r; }));
    const returns = $("returns");
    const drawReturns = () => {
      returns.textContent = "";
      for (const m of [5, 10, 15, 30, 60, 0]) {
        returns.append(chip(m ? t("min", { n: m }) : t("noReturn"), m === pauseMinutes, () => { pauseMinutes = m; drawReturns(); }));
      }
    };
    drawReturns();
    $("reason").value = "";
    dlg.returnValue = "";
    dlg.onclose = () => {
      if (dlg.returnValue !== "ok") return;
      const body = { reason: $("reason").value.trim() || null };
      if (pauseMinutes) body.expected_return = new Date(Date.now() + pauseMinutes * 60000).toISOString();
      send("pause", body, "a_pause");
    };
    dlg.showModal();
  }
  function openTransfer() {
    const dlg = $("transfer-dlg");
    setText($("transfer-title"), t("transferTitle"));
    setText($("transfer-cancel"), t("cancel"));
    const box = $("transfer-services");
    box.textContent = "";
    for (const s of view.services) {
      box.append(chip((s.prefix || s.id) + " " + BQ.label(s), false, () => {
        dlg.close("cancel");
        send("transfer", { service: s.id }, "a_transfer");
      }));
    }
    dlg.showModal();
  }

  // ------------------------------------------------------------ keys
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    if (document.querySelector("dialog[open]") || /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName)) return;
    const k = e.key.length === 1 ? e.key.toUpperCase() : e.key;
    const a = ACTIONS.find((x) => x[2] === k) || (k === "F1" || k === " " ? ACTIONS[0] : null);
    if (a) { e.preventDefault(); run(a[0]); }
  });

  // ------------------------------------------------------------ view
  $("counter").addEventListener("change", (e) => {
    counterId = e.target.value;
    localStorage.setItem(STORE, counterId);
    figuresAt = 0;
    message("");
    if (view) render(view);
    live.hello("teller", counterId);
  });

  // Sign this session in to the chosen counter: the server lets a teller act only there.
  function signInTo(id) {
    if (!id || id === signedTo) return;
    signedTo = id;
    choosing = fetch("/api/v1/session/counter", {
      method: "PUT", headers: BQ.authHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify({ branch, counter: id }),
    }).then(async (r) => {
      if (r.status === 401) location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      else if (!r.ok) { const b = await r.json().catch(() => ({})); message((BQ.lang === "en" ? b.message : b.message_zh) || ("HTTP " + r.status), true); }
      else {
        // One teller per counter: a colleague still signed in here was moved off it.
        const b = await r.json().catch(() => ({}));
        if (b.took_over_from && b.took_over_from.length) message(t("tookOver", { who: b.took_over_from.join(", ") }));
      }
    }).catch(() => { signedTo = null; });
  }

  function queueFor(c) {
    // Tickets this counter would call, in its calling order: priority, then its preference.
    const order = (c.services || []).map((id, i) => ({ s: BQ.serviceById(view, id), i }));
    order.sort((a, b) => (b.s.priority || 0) - (a.s.priority || 0) || a.i - b.i);
    const out = [];
    for (const { s } of order) for (const tk of view.queues[s.id] || s.tickets || []) out.push(tk);
    return out;
  }

  function render(v) {
    view = v;
    const sel = $("counter");
    if (sel.options.length !== v.counters.length) {
      sel.textContent = "";
      for (const c of v.counters) {
        const o = el("option", "", BQ.counterLabel(c));
        o.value = c.id;
        sel.append(o);
      }
    }
    if (!counterId || !v.counters.some((c) => c.id === counterId)) counterId = v.counters[0] && v.counters[0].id;
    sel.value = counterId;
    signInTo(counterId);
    const c = current();
    const face = BQTiles.counterFace(c);
    const badge = $("badge");
    badge.className = "badge " + face.cls;
    setText(badge, face.state);
    setText($("cur-number"), c.status === "closed" ? "" : c.ticket || "");
    setText($("cur-info"), [face.info, face.info2].filter(Boolean).join(" · "));
    refreshButtons();

    const q = queueFor(c);
    const now = Date.now();
    const shown = q.slice(0, 12);
    syncChildren($("queue"), shown, (x) => x.ticket, () => {
      const li = el("li");
      li.append(el("span", "tk num"), el("span", "w"));
      return li;
    }, (li, x) => {
      setText(li.children[0], x.ticket);
      const issued = BQ.toDate(x.issued_at);
      const waitText = x.wait ? BQ.estText(x.wait) : "";
      setText(li.children[1], issued ? t("waited", { n: BQ.minutes((now - issued) / 1000) }) + (waitText ? " · " + waitText : "") : "");
    });
    setText($("queue-more"), q.length > shown.length ? t("more", { n: q.length - shown.length }) : "");
    renderFigures(c);
  }

  async function renderFigures(c) {
    if (Date.now() - figuresAt > 10000) {
      figuresAt = Date.now();
      try { figures = await BQ.getJSON(BQ.api(branch, "figures")); } catch (e) { figures = null; }
    }
    const mine = figures && figures.counters ? figures.counters.find((x) => String(x.id) === c.id) : null;
    const rows = [[t("served"), String(mine && mine.served != null ? mine.served : (c.served_today || 0))]];
    if (mine) {
      if (mine.mean_service_s != null) rows.push([t("meanService"), t("min", { n: (mine.mean_service_s / 60).toFixed(1) })]);
      if (mine.mean_wait_s != null) rows.push([t("meanWait"), t("min", { n: (mine.mean_wait_s / 60).toFixed(1) })]);
      if (mine.no_shows != null) rows.push([t("noShows"), String(mine.no_shows)]);
    }
    const dl = $("figs");
    dl.textContent = "";
    for (const [k, val] of rows) dl.append(el("dt", "", k), el("dd", "num", val));
  }

  // Who is signed in here (a shared terminal: the next teller sees whose session it is).
  BQ.getJSON("/api/v1/session").then((who) => setText($("who"), who.id)).catch(() => { /* 401: sign-in follows */ });

  const live = new BQ.Live({ branch, screen: "teller", id: counterId, onView: render });
  setInterval(() => { if (view) render(view); }, 30000); // "waited N min" moves on without events
})();
