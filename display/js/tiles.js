/* What a counter shows, for the lobby tiles and the counter-top display alike.
 * One function decides the words; the pages only place them. A closed counter
 * never shows a ticket number, whatever the view says.
 */
(function (global) {
  "use strict";
  const BQ = global.BQ;

  // -> {cls, state, number, info, info2}
  function counterFace(c) {
    const est = BQ.estText(c.estimate);
    const status = c.status;
    if (status === "closed") return { cls: "s-closed", state: BQ.t("closed"), number: "", info: "", info2: "" };
    if (status === "paused") {
      const ret = c.expected_return ? BQ.t("returnAt", { time: BQ.hhmm(c.expected_return) }) : "";
      return {
        cls: "s-paused", state: BQ.t("paused"), number: "",
        info: c.pause_reason || "",
        info2: (c.estimate && c.estimate.kind === "pause" && est) ? est : ret,
      };
    }
    if (status === "wrapup") {
      return { cls: "s-wrapup", state: BQ.t("wrapup"), number: "", info: est || BQ.t("wrapupLine"), info2: "" };
    }
    if (status === "serving") {
      return { cls: "s-serving", state: BQ.t("serving"), number: c.ticket || "", info: est, info2: "" };
    }
    if (status === "calling") {
      return { cls: "s-calling", state: BQ.t("callingState"), number: c.ticket || "",
               info: BQ.t("callingLine", { ticket: c.ticket || "" }), info2: "" };
    }
    return { cls: "s-free", state: BQ.t("free"), number: "", info: BQ.t("freeLine"), info2: "" };
  }

  function servicePrefixes(view, c) {
    return (c.services || []).map((id) => BQ.serviceById(view, id).prefix || id).join(" ");
  }

  global.BQTiles = { counterFace, servicePrefixes };
})(window);
