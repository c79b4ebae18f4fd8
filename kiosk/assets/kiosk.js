/* The kiosk: a button per service with people waiting and the range if you
 * take a number now; the ticket with people ahead, range and a QR code to the
 * ticket's status page; printing to the branch's ESC/POS printer when the
 * server has one, else through the browser (80 mm print CSS).
 *
 * URL options: ?lang=en, ?autoprint=1 (print every ticket), ?back=20 (seconds
 * before the result closes by itself).
 */
(function () {
  "use strict";
  const { t, el, setText, syncChildren } = BQ;
  const branch = BQ.pathParts()[1] || BQ.params.get("branch") || "demo";
  const $ = (id) => document.getElementById(id);
  const BACK_S = parseInt(BQ.params.get("back") || "30", 10) || 30;

  BQ.extend({
    zh: {
      choose: "请选择业务", yourNumber: "您的号码", ahead: "前面还有 {n} 人", aheadNone: "前面没有人在等候",
      scan: "扫码查看排队进度", print: "打印", done: "完成", issuedAt: "取号时间 {time}",
      taking: "正在取号…", failed: "取号失败:{msg}", other: "English", peopleNow: "等候 {n} 人",
    },
    en: {
      choose: "Choose a service", yourNumber: "Your number", ahead: "{n} ahead of you", aheadNone: "Nobody ahead of you",
      scan: "Scan to follow your place in line", print: "Print", done: "Done", issuedAt: "Issued {time}",
      taking: "Taking a number…", failed: "Could not take a number: {msg}", other: "中文", peopleNow: "{n} waiting",
    },
  });
  setText($("choose"), t("choose"));
  setText($("print"), t("print"));
  setText($("done"), t("done"));
  setText($("r-label"), t("yourNumber"));
  setText($("r-scan"), t("scan"));
  const sw = $("lang-switch");
  setText(sw, t("other"));
  sw.href = location.pathname + (BQ.lang === "en" ? "" : "?lang=en");
  BQ.startClock(document.querySelector(".top .clock"), true);

  let view = null;
  let busy = false;
  let backTimer = null;
  let current = null;

  function render(v) {
    view = v;
    if (v.name) { setText($("branch-name"), v.name); setText($("r-branch"), v.name); }
    syncChildren($("buttons"), v.services, (s) => s.id, (s) => {
      const b = el("button", "svc-btn");
      b.type = "button";
      b.dataset.service = s.id;
      const meta = el("div", "meta");
      meta.append(el("span", "count"), el("span", "wait"));
      b.append(el("div", "px"), el("div", "nm"), meta);
      b.addEventListener("click", () => take(s.id));
      return b;
    }, (b, s) => {
      setText(b.querySelector(".px"), s.prefix || s.id);
      setText(b.querySelector(".nm"), BQ.label(s));
      setText(b.querySelector(".count"), t("peopleNow", { n: s.waiting || 0 }));
      const text = s.join ? BQ.estText(s.join) : "";
      const served = v.counters.some((c) => (c.services || []).includes(s.id) && !["closed", "paused"].includes(c.status));
      const w = b.querySelector(".wait");
      setText(w, text || (served ? "" : t("noCounter")));
      w.classList.toggle("none", !text || s.join.available === false);
    });
  }

  function showError(msg) {
    const e = $("error");
    e.hidden = !msg;
    setText(e, msg || "");
    if (msg) setTimeout(() => { e.hidden = true; }, 6000);
  }

  async function take(service) {
    if (busy) return;
    busy = true;
    showError("");
    const key = BQ.uuid(); // one key per touch: a retried request issues one ticket
    try {
      const res = await BQ.postJSON(BQ.api(branch, "tickets"), { service, channel: "kiosk" }, key);
      const number = res.ticket || res.number;
      let info = res;
      try { info = Object.assign({}, res, await BQ.getJSON(BQ.api(branch, "tickets/" + encodeURIComponent(number)))); } catch (e) { /* the answer suffices */ }
      showTicket(number, service, info);
    } catch (e) {
      showError(t("failed", { msg: e.message }));
    } finally {
      busy = false;
    }
  }

  function showTicket(number, service, info) {
    current = number;
    const s = view ? BQ.serviceById(view, service) : { id: service, name: service };
    setText($("r-number"), number);
    setText($("r-service"), BQ.label(s));
    const ahead = info.people_ahead;
    setText($("r-ahead"), ahead == null ? "" : (ahead > 0 ? t("ahead", { n: ahead }) : t("aheadNone")));
    const wait = info.wait || info.estimate || (s.join || null);
    setText($("r-wait"), wait ? BQ.estText(wait) : "");
    setText($("r-time"), t("issuedAt", { time: BQ.hhmm(info.issued_at || new Date()) }));
    $("r-qr").src = BQ.api(branch, "tickets/" + encodeURIComponent(number) + "/qr.svg");
    $("r-qr").alt = "/t/" + branch + "/" + number;
    $("result").hidden = false;
    clearTimeout(backTimer);
    backTimer = setTimeout(close, BACK_S * 1000);
    if (BQ.params.get("autoprint") === "1") print();
  }

  function close() {
    clearTimeout(backTimer);
    $("result").hidden = true;
    current = null;
  }

  // The branch's receipt printer when the server has one; the browser otherwise.
  async function print() {
    if (!current) return;
    try {
      await BQ.postJSON(BQ.api(branch, "tickets/" + encodeURIComponent(current) + "/print"), { lang: BQ.lang });
    } catch (e) {
      window.print();
    }
  }

  $("done").addEventListener("click", close);
  $("print").addEventListener("click", print);
  new BQ.Live({ branch, screen: "kiosk", onView: render });
})();
