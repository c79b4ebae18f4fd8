/* A ticket's status page (/t/{branch}/{ticket}), opened from the kiosk's QR
 * code: live position, range and why; "your number was called to counter 3"
 * with vibration and a chime; a "turn soon" notice when p_soon is high.
 *
 * Public: no sign-in. The feed (?ticket=) sends this ticket's status and
 * nothing about anyone else's; the names shown come with it. */
(function () {
  "use strict";
  const { t, setText } = BQ;
  const parts = BQ.pathParts(); // t/{branch}/{ticket}
  const branch = parts[1] || BQ.params.get("branch") || "demo";
  const number = parts[2] || BQ.params.get("ticket") || "";
  const $ = (id) => document.getElementById(id);
  const SOON = 0.6; // show "your turn soon" when the chance of a call within minutes is at least this

  BQ.extend({
    zh: {
      tLabel: "您的号码", stWaiting: "排队中", stCalled: "请到{counter}办理", stServing: "正在{counter}办理",
      stDone: "业务已办结,感谢光临", stNoShow: "已过号,请到服务台咨询", stAbandoned: "此号已失效",
      ahead: "前面还有 {n} 人", aheadNone: "您是下一位", soon: "即将轮到您,请留意叫号",
      notFound: "没有找到这个号码", enable: "开启提醒声音", enabled: "已开启提醒声音", other: "English",
    },
    en: {
      tLabel: "Your number", stWaiting: "Waiting", stCalled: "Please go to {counter}", stServing: "Being served at {counter}",
      stDone: "Done. Thank you for your visit", stNoShow: "Missed. Please ask at the front desk", stAbandoned: "This ticket is no longer valid",
      ahead: "{n} ahead of you", aheadNone: "You are next", soon: "Your turn is coming soon; watch for your number",
      notFound: "We could not find this ticket", enable: "Turn on alert sound", enabled: "Alert sound on", other: "中文",
    },
  });
  setText($("label"), t("tLabel"));
  setText($("number"), number);
  setText($("enable"), t("enable"));
  const sw = $("lang-switch");
  setText(sw, t("other"));
  sw.href = location.pathname + (BQ.lang === "en" ? "" : "?lang=en");
  $("enable").addEventListener("click", () => { BQAnnounce.chime(); setText($("enable"), t("enabled")); });

  let lastStatus = null;
  let lastCalls = null;

  function render(tk) {
    const card = $("card");
    card.dataset.status = tk.status;
    if (tk.branch_name) setText($("branch-name"), tk.branch_name);
    setText($("service"), (BQ.lang === "en" ? tk.service_name_en : tk.service_name) || tk.service || "");
    const where = BQ.counterLabel({ id: tk.counter, name: tk.counter_name, name_en: tk.counter_name_en });
    const st = {
      waiting: t("stWaiting"), called: t("stCalled", { counter: where }), serving: t("stServing", { counter: where }),
      done: t("stDone"), no_show: t("stNoShow"), abandoned: t("stAbandoned"),
    }[tk.status] || tk.status;
    setText($("status"), st);
    const waiting = tk.status === "waiting";
    const ahead = tk.people_ahead;
    setText($("ahead"), waiting && ahead != null ? (ahead > 0 ? t("ahead", { n: ahead }) : t("aheadNone")) : "");
    setText($("wait"), waiting ? BQ.estText(tk.wait) : "");
    setText($("why"), waiting ? BQ.whyText(tk.wait) : "");
    const soon = waiting && tk.wait && tk.wait.p_soon >= SOON;
    $("soon").hidden = !soon;
    setText($("soon"), t("soon"));
    document.title = number + " · " + st;

    // Called (or called again): vibrate and chime, once per call.
    const calls = tk.calls || 0;
    if (tk.status === "called" && lastStatus !== null && (lastStatus !== "called" || calls !== lastCalls)) {
      if (navigator.vibrate) navigator.vibrate([400, 200, 400, 200, 400]);
      BQAnnounce.chime();
    }
    lastStatus = tk.status;
    lastCalls = calls;
  }

  let pending = false;
  let again = false;
  async function load() {
    if (pending) { again = true; return; }
    pending = true;
    try {
      render(await BQ.getJSON(BQ.api(branch, "tickets/" + encodeURIComponent(number))));
    } catch (e) {
      if (e.status === 404) notFound();
    } finally {
      pending = false;
      if (again) { again = false; load(); }
    }
  }

  function notFound() {
    setText($("status"), t("notFound"));
    $("card").dataset.status = "abandoned";
  }

  // The feed pushes this ticket's status whenever it changes.
  load();
  new BQ.Live({ branch, screen: "ticket", id: number, ticket: number,
                onTicket: (tk) => (tk ? render(tk) : notFound()) });
})();
