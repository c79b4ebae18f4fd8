/* The counter-top display: this window's number, estimate, paused/closed state. */
(function () {
  "use strict";
  const { t, setText } = BQ;
  const parts = BQ.pathParts(); // display/{branch}/counter/{counter}
  const branch = parts[1] || BQ.params.get("branch") || "demo";
  const counterId = parts[3] || BQ.params.get("counter") || "1";
  const $ = (id) => document.getElementById(id);
  BQ.startClock($("clock"), false);
  let lastCall = null;

  function onView(view, why) {
    const c = BQ.counterById(view, counterId);
    const face = BQTiles.counterFace(c);
    const node = $("face");
    node.className = "face bq-dim-when-offline " + face.cls + (node.classList.contains("flash") ? " flash" : "");
    node.dataset.status = c.status;
    setText($("name"), BQ.counterLabel(c));
    setText($("state"), face.state);
    setText($("number"), face.number);
    setText($("info"), face.info);
    setText($("info2"), face.info2);
    setText($("sign"), t("closed"));
    document.title = BQ.counterLabel(c) + " · branchq";

    // Announce this window's calls (and recalls) once; not old ones after a reconnect.
    const mine = (view.recent_calls || []).filter((k) => String(k.counter) === counterId);
    const latest = mine[mine.length - 1];
    const key = latest ? latest.ts + "|" + latest.ticket : "";
    if (key !== lastCall) {
      const first = lastCall === null;
      lastCall = key;
      if (latest && !first && why !== "snapshot") {
        node.classList.remove("flash");
        void node.offsetWidth;
        node.classList.add("flash");
        node.addEventListener("animationend", () => node.classList.remove("flash"), { once: true });
        if (BQ.params.get("sound") === "on") BQAnnounce.announce(latest, view);
      }
    }
  }

  new BQ.Live({ branch, screen: "counter", id: counterId, onView });
})();
