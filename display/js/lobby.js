/* The lobby display: now calling, the last few calls, a tile per counter,
 * people waiting and the wait range per service, the clock. */
(function () {
  "use strict";
  const { t, el, setText, syncChildren } = BQ;
  const branch = BQ.pathParts()[1] || BQ.params.get("branch") || "demo";
  const $ = (id) => document.getElementById(id);
  const RECENT = 3; // earlier calls listed beside the banner (what fits its height)
  const MAX_ONE_ROW = 6;

  BQ.extend({ zh: { title: "叫号显示" }, en: { title: "Queue display" } });
  setText($("title"), t("title"));
  setText($("now-label"), t("nowCalling"));
  setText($("recent-label"), t("recentCalls"));
  BQ.startClock(document.querySelector(".top .clock"), true);

  let lastCallKey = null;

  function callLine(node, call, view) {
    node.textContent = "";
    if (!call) { node.innerHTML = "&nbsp;"; return; }
    const c = BQ.counterById(view, call.counter);
    const text = t("calling", { ticket: "\u0001", counter: BQ.counterLabel(c) });
    const [before, after] = text.split("\u0001");
    node.append(before, el("span", "tk num", call.ticket), after);
  }

  function renderCalls(view) {
    const calls = view.recent_calls || [];
    const latest = calls[calls.length - 1] || null;
    callLine($("now-line"), latest, view);
    // earlier calls, newest first, one line per ticket
    const seen = new Set(latest ? [latest.ticket] : []);
    const earlier = [];
    for (let i = calls.length - 2; i >= 0 && earlier.length < RECENT; i--) {
      if (seen.has(calls[i].ticket)) continue;
      seen.add(calls[i].ticket);
      earlier.push(calls[i]);
    }
    syncChildren($("recent"), earlier, (c) => c.ticket + "@" + c.counter, () => {
      const li = el("li");
      li.append(el("span", "tk num"), el("span", "to"));
      return li;
    }, (li, call) => {
      setText(li.children[0], call.ticket);
      setText(li.children[1], BQ.counterLabel(BQ.counterById(view, call.counter)));
    });
    return latest;
  }

  function renderTiles(view) {
    // Up to six counters stand in one row; more go into two rows (a compact tile,
    // smaller banner and service boxes), so a 12-window branch still reads from 5 m.
    const n = Math.max(1, view.counters.length);
    const cols = n > MAX_ONE_ROW ? Math.ceil(n / 2) : n;
    document.body.classList.toggle("many", n > MAX_ONE_ROW);
    $("tiles").style.setProperty("--n", String(cols)); // fonts fit the column width
    $("tiles").style.setProperty("--cols", String(cols));
    syncChildren($("tiles"), view.counters, (c) => c.id, () => {
      const tile = el("div", "tile");
      for (const cls of ["name", "svc", "state", "number num", "info", "info2", "closed-sign"]) tile.append(el("div", cls));
      return tile;
    }, (tile, c) => {
      const face = BQTiles.counterFace(c);
      tile.className = "tile " + face.cls + (tile.classList.contains("flash") ? " flash" : "");
      tile.dataset.status = c.status;
      const [name, svc, state, number, info, info2, sign] = tile.children;
      setText(name, BQ.counterLabel(c));
      setText(svc, BQTiles.servicePrefixes(view, c));
      setText(state, face.state);
      setText(number, face.number);
      setText(info, face.info);
      setText(info2, face.info2);
      setText(sign, t("closed"));
    });
  }

  function renderServices(view) {
    syncChildren($("services"), view.services, (s) => s.id, () => {
      const box = el("div", "service");
      const name = el("div", "sname");
      name.append(el("span", "px"), el("span", "sn"));
      box.append(name, el("div", "count"), el("div", "wait"));
      return box;
    }, (box, s) => {
      setText(box.querySelector(".px"), s.prefix || s.id);
      setText(box.querySelector(".sn"), BQ.label(s));
      const count = box.querySelector(".count");
      const n = String(s.waiting || 0);
      if (count.dataset.n !== n) {
        count.dataset.n = n;
        count.textContent = t("waiting") + " ";
        count.append(el("b", "num", n));
        if (BQ.lang === "zh") count.append(" 人");
      }
      const wait = box.querySelector(".wait");
      const text = s.join ? BQ.estText(s.join) : "";
      const served = view.counters.some((c) => (c.services || []).includes(s.id) &&
        !["closed", "paused"].includes(c.status));
      setText(wait, text || (served ? "" : t("noCounter")));
      wait.classList.toggle("none", !text || s.join.available === false);
    });
  }

  function flash(node) {
    node.classList.remove("flash");
    void node.offsetWidth; // restart the animation
    node.classList.add("flash");
    node.addEventListener("animationend", () => node.classList.remove("flash"), { once: true });
  }

  function announceIfNew(view, latest, why) {
    // A recall appends the same ticket again with a new time: it is announced again.
    const key = latest ? latest.ts + "|" + latest.ticket + "|" + latest.counter : "";
    if (key === lastCallKey) return;
    const first = lastCallKey === null;
    lastCallKey = key;
    if (!latest || first || why === "snapshot") return; // not old calls after a (re)connect
    flash($("calling").querySelector(".now"));
    const tile = $("tiles").querySelector('[data-key="' + CSS.escape(String(latest.counter)) + '"]');
    if (tile) flash(tile);
    BQAnnounce.announce(latest, view);
  }

  function onView(view, why) {
    if (view.name) setText($("branch-name"), view.name);
    const latest = renderCalls(view);
    renderTiles(view);
    renderServices(view);
    announceIfNew(view, latest, why);
  }

  new BQ.Live({ branch, screen: "lobby", onView });

  // A hint in the corner while the browser holds audio back (no user gesture yet).
  setInterval(() => {
    const st = BQAnnounce.audioState();
    const node = $("sound");
    node.hidden = st !== "suspended";
    setText(node, t("soundOff"));
  }, 3000);
})();
