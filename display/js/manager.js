/* The manager page: waiting per class, longest current wait, share called
 * within 10 minutes in the last hour, counter states over the day, connected
 * screens with their last heartbeat, and "staffed but not calling" alerts.
 *
 * URL options: ?alert=10 (minutes a customer may wait before an idle counter is
 * flagged), ?reports=/reports/ (where the simulator's reports are served).
 */
(function () {
  "use strict";
  const { t, el, setText, syncChildren } = BQ;
  const branch = BQ.pathParts()[1] || BQ.params.get("branch") || "demo";
  const $ = (id) => document.getElementById(id);
  const alertParam = parseFloat(BQ.params.get("alert"));
  const ALERT_MIN = Number.isFinite(alertParam) && alertParam >= 0 ? alertParam : 10;
  const STALE_S = 45; // a screen pings every 15 s; three missed pings and it is flagged
  const POLL_MS = 5000;

  BQ.extend({
    zh: {
      mTitle: "网点经理视图", kWaiting: "等候人数", kLongest: "当前最长等候", kWithin: "近1小时10分钟内叫号",
      kAlerts: "窗口告警", alertsTitle: "有人久等,窗口却未叫号", noAlerts: "没有告警:有人等候超过{n}分钟时,空闲或暂停的窗口会列在这里",
      alertFree: "{counter}空闲{idle},{n}人等候超过{limit}分钟(最久:{ticket},{wait})",
      alertPaused: "{counter}暂停中{reason}{idle},{n}人等候超过{limit}分钟(最久:{ticket},{wait})",
      classesTitle: "各业务等候", cService: "业务", cWaiting: "等候", cLongest: "最长等候", cWithin: "10分钟内叫号",
      cCalled: "近1小时叫号", cJoin: "现在取号预计",
      timelineTitle: "窗口状态(今日)", screensTitle: "在线屏幕", sKind: "屏幕", sId: "编号", sAddr: "地址",
      sSeen: "最近心跳", sPhones: "顾客手机排队页", linksTitle: "模拟与报告", lReports: "模拟报告", lApi: "API 文档",
      lLobby: "大厅屏", lKiosk: "取号机", lTeller: "柜员台", ago: "{n}秒前", minutes: "{n}分钟", underMinute: "不到1分钟", none: "—",
      lobby: "大厅屏", counter: "窗口屏", kiosk: "取号机", teller: "柜员台", manager: "经理页", ticket: "手机",
      st_free: "空闲", st_calling: "叫号", st_serving: "办理", st_wrapup: "后台处理", st_paused: "暂停", st_closed: "关闭",
      served: "办结{n}",
    },
    en: {
      mTitle: "Branch manager", kWaiting: "Waiting", kLongest: "Longest wait now", kWithin: "Called within 10 min (last hour)",
      kAlerts: "Counter alerts", alertsTitle: "Staffed but not calling", noAlerts: "No alerts: an idle or paused counter is listed here when someone has waited over {n} min",
      alertFree: "{counter} free for {idle}; {n} waiting over {limit} min (longest: {ticket}, {wait})",
      alertPaused: "{counter} paused{reason} for {idle}; {n} waiting over {limit} min (longest: {ticket}, {wait})",
      classesTitle: "Waiting by service", cService: "Service", cWaiting: "Waiting", cLongest: "Longest", cWithin: "Within 10 min",
      cCalled: "Called, last hour", cJoin: "If you join now",
      timelineTitle: "Counter states today", screensTitle: "Connected screens", sKind: "Screen", sId: "Id", sAddr: "Address",
      sSeen: "Last heartbeat", sPhones: "Customers' phones", linksTitle: "Simulation and reports", lReports: "Simulator reports", lApi: "API docs",
      lLobby: "Lobby", lKiosk: "Kiosk", lTeller: "Teller", ago: "{n} s ago", minutes: "{n} min", underMinute: "< 1 min", none: "—",
      lobby: "Lobby", counter: "Counter", kiosk: "Kiosk", teller: "Teller", manager: "Manager", ticket: "Phone",
      st_free: "Free", st_calling: "Calling", st_serving: "Serving", st_wrapup: "Back office", st_paused: "Paused", st_closed: "Closed",
      served: "{n} served",
    },
  });
  for (const [id, key] of [["title", "mTitle"], ["k-waiting-l", "kWaiting"], ["k-longest-l", "kLongest"], ["k-within-l", "kWithin"],
    ["k-alerts-l", "kAlerts"], ["alerts-title", "alertsTitle"], ["classes-title", "classesTitle"], ["timeline-title", "timelineTitle"],
    ["screens-title", "screensTitle"], ["links-title", "linksTitle"]]) setText($(id), t(key));
  for (const [id, keys] of [["classes-head", ["cService", "cWaiting", "cLongest", "cWithin", "cCalled", "cJoin"]],
    ["screens-head", ["sKind", "sId", "sAddr", "sSeen"]]]) {
    for (const k of keys) $(id).append(el("th", "", t(k)));
  }
  const STATES = ["free", "calling", "serving", "wrapup", "paused", "closed"];
  for (const s of STATES) {
    const span = el("span");
    span.append(el("i", "st-" + s), t("st_" + s));
    $("legend").append(span);
  }
  const reports = BQ.params.get("reports") || "/reports/";
  const q = BQ.lang === "en" ? "?lang=en" : "";
  for (const [key, href] of [["lReports", reports], ["lApi", "/docs"], ["lLobby", "/display/" + branch + q],
    ["lKiosk", "/kiosk/" + branch + q], ["lTeller", "/teller/" + branch + q]]) {
    const a = el("a", "", t(key));
    a.href = href;
    a.target = "_blank";
    $("links").append(a);
  }
  BQ.startClock($("clock"), false);

  let view = null;
  let figs = null;

  const dur = (s) => (s == null ? t("none") : s < 60 ? t("underMinute") : t("minutes", { n: Math.floor(s / 60) }));
  const pct = (x) => (x == null ? t("none") : Math.round(x * 100) + "%");

  function renderFigures() {
    if (!figs) return;
    setText($("k-waiting"), String(figs.waiting));
    setText($("k-longest"), dur(figs.longest_wait_s));
    setText($("k-within"), pct(figs.within_10_min_share));
    setText($("k-alerts"), String(figs.alerts.length));
    $("k-alerts-box").classList.toggle("bad", figs.alerts.length > 0);

    const items = figs.alerts.length ? figs.alerts : [{ ok: true }];
    syncChildren($("alerts"), items, (a) => (a.ok ? "ok" : a.counter), () => el("li"), (li, a) => {
      li.className = a.ok ? "ok" : "";
      if (a.ok) return setText(li, t("noAlerts", { n: ALERT_MIN }));
      const c = view ? BQ.counterById(view, a.counter) : a;
      setText(li, t(a.status === "paused" ? "alertPaused" : "alertFree", {
        counter: BQ.counterLabel(c), idle: dur(a.idle_s), n: a.waiting_over, limit: ALERT_MIN,
        ticket: a.oldest_ticket, wait: dur(a.oldest_wait_s), reason: a.pause_reason ? "(" + a.pause_reason + ")" : "",
      }));
    });

    syncChildren($("classes"), figs.services, (s) => s.id, () => {
      const tr = el("tr");
      for (let i = 0; i < 6; i++) tr.append(el("td", i > 0 && i < 5 ? "n" : ""));
      return tr;
    }, (tr, s) => {
      const vs = view ? BQ.serviceById(view, s.id) : null;
      const cells = [(s.prefix || s.id) + " " + BQ.label(s), String(s.waiting), dur(s.longest_wait_s),
        pct(s.within_10_min_share), String(s.called_last_hour), vs && vs.join ? BQ.estText(vs.join) : t("none")];
      cells.forEach((v, i) => setText(tr.children[i], v));
    });
    renderTimeline();
  }

  function renderTimeline() {
    const now = BQ.toDate(figs.at) || new Date();
    let start = BQ.toDate(figs.day_start) || now;
    // from the hour before the first event to the next full hour
    start = new Date(Math.floor(start.getTime() / 3600000) * 3600000);
    const end = new Date(Math.max(start.getTime() + 3600000, Math.ceil(now.getTime() / 3600000) * 3600000));
    const span = end - start;
    const pos = (d) => ((d - start) / span) * 100;
    const axis = $("axis");
    axis.textContent = "";
    for (let h = start.getTime(); h <= end.getTime(); h += 3600000) {
      const s = el("span", "", BQ.hhmm(new Date(h)));
      s.style.left = pos(h) + "%";
      axis.append(s);
    }
    syncChildren($("rows"), figs.counters, (c) => c.id, () => {
      const row = el("div", "row");
      row.append(el("div", "lbl"), el("div", "bar2"));
      return row;
    }, (row, c) => {
      const vc = view ? BQ.counterById(view, c.id) : { id: c.id };
      const lbl = row.children[0];
      lbl.textContent = BQ.counterLabel(vc);
      lbl.append(el("small", "", t("served", { n: c.served })));
      const bar = row.children[1];
      bar.textContent = ""; // rebuilt each time: a day has a few hundred segments at most
      for (const seg of c.timeline) {
        const from = BQ.toDate(seg.from);
        const to = BQ.toDate(seg.to) || now;
        const d = el("div", "seg st-" + seg.status);
        d.style.left = pos(from) + "%";
        d.style.width = Math.max(0.1, pos(to) - pos(from)) + "%";
        d.title = t("st_" + seg.status) + " " + BQ.hhmm(from) + "–" + BQ.hhmm(to);
        bar.append(d);
      }
    });
  }

  function renderScreens(list) {
    const phones = list.filter((s) => s.screen === "ticket");
    const shown = list.filter((s) => s.screen !== "ticket").slice(0, 10);
    const rows = shown.map((s) => ({ key: String(s.conn), s }));
    if (phones.length) rows.push({ key: "phones", phones: phones.length });
    const now = Date.now();
    syncChildren($("screens"), rows, (r) => r.key, () => {
      const tr = el("tr");
      for (let i = 0; i < 4; i++) tr.append(el("td"));
      return tr;
    }, (tr, r) => {
      if (r.phones) {
        [t("sPhones"), String(r.phones), "", ""].forEach((v, i) => setText(tr.children[i], v));
        return;
      }
      const age = Math.max(0, Math.round((now - BQ.toDate(r.s.last_seen)) / 1000));
      [t(r.s.screen) || r.s.screen, r.s.id || "", r.s.address, t("ago", { n: age })].forEach((v, i) => setText(tr.children[i], v));
      tr.children[3].classList.toggle("stale", age > STALE_S);
    });
  }

  async function poll() {
    try {
      figs = await BQ.getJSON(BQ.api(branch, "figures?alert_after=" + ALERT_MIN));
      renderFigures();
    } catch (e) { /* the banner shows a lost connection */ }
    try { renderScreens(await BQ.getJSON(BQ.api(branch, "screens"))); } catch (e) { /* as above */ }
  }

  let pollTimer = null;
  function pollSoon() {
    if (pollTimer) return;
    pollTimer = setTimeout(() => { pollTimer = null; poll(); }, 300);
  }
  new BQ.Live({
    branch, screen: "manager",
    onView: (v) => { view = v; if (v.name) setText($("branch-name"), v.name); pollSoon(); },
  });
  setInterval(poll, POLL_MS);
})();
