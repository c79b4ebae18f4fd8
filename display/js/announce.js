/* Call announcements: a chime (WebAudio) and a spoken line where the browser
 * has a voice for the language. Without a voice the chime still plays and the
 * page flashes its banner (the caller does that).
 *
 * Configurable by URL: ?chime=off, ?voice=off, ?say=请{ticket}号到{counter}办理
 * (the line to speak), ?voicename=... (pick a voice by name), ?repeat=2 (times
 * each call is spoken). Browsers only start audio after a user gesture unless
 * the screen's Chromium runs with --autoplay-policy=no-user-gesture-required.
 */
(function (global) {
  "use strict";
  const BQ = global.BQ;
  const p = BQ.params;
  const chimeOn = p.get("chime") !== "off";
  const voiceOn = p.get("voice") !== "off";
  const repeat = Math.max(1, Math.min(3, parseInt(p.get("repeat") || "1", 10) || 1));
  let ctx = null;
  const queue = [];
  let speaking = false;

  function audio() {
    if (!ctx) {
      const AC = global.AudioContext || global.webkitAudioContext;
      if (!AC) return null;
      try { ctx = new AC(); } catch (e) { return null; }
    }
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    return ctx;
  }

  // Two soft tones, "ding-dong", about a second.
  function chime() {
    if (!chimeOn) return Promise.resolve();
    const ac = audio();
    if (!ac) return Promise.resolve();
    const t0 = ac.currentTime + 0.02;
    [[880, 0], [660, 0.45]].forEach(([freq, at]) => {
      const o = ac.createOscillator();
      const g = ac.createGain();
      o.type = "sine";
      o.frequency.value = freq;
      g.gain.setValueAtTime(0.0001, t0 + at);
      g.gain.exponentialRampToValueAtTime(0.35, t0 + at + 0.03);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.9);
      o.connect(g).connect(ac.destination);
      o.start(t0 + at);
      o.stop(t0 + at + 1.0);
    });
    return new Promise((res) => setTimeout(res, 1100));
  }

  function pickVoice(langTag) {
    const synth = global.speechSynthesis;
    if (!synth) return null;
    const voices = synth.getVoices() || [];
    const wanted = p.get("voicename");
    if (wanted) {
      const v = voices.find((x) => x.name === wanted);
      if (v) return v;
    }
    const base = langTag.slice(0, 2);
    return voices.find((x) => x.lang === langTag) ||
      voices.find((x) => (x.lang || "").replace("_", "-").startsWith(langTag)) ||
      voices.find((x) => (x.lang || "").startsWith(base)) || null;
  }

  function say(text, langTag) {
    const synth = global.speechSynthesis;
    if (!voiceOn || !synth || !global.SpeechSynthesisUtterance) return Promise.resolve(false);
    const voice = pickVoice(langTag);
    if (!voice) return Promise.resolve(false);
    return new Promise((res) => {
      const u = new SpeechSynthesisUtterance(text);
      try { u.voice = voice; } catch (e) { /* a voice object from elsewhere: the lang still picks it */ }
      u.lang = voice.lang;
      u.rate = parseFloat(p.get("rate") || "0.9") || 0.9;
      const done = () => res(true);
      u.onend = done;
      u.onerror = done;
      setTimeout(done, 12000); // a stuck engine must not block later calls
      synth.speak(u);
    });
  }

  function line(call, view, forLang) {
    const c = BQ.counterById(view, call.counter);
    const tpl = forLang === "zh" && p.get("say") ? p.get("say") : null;
    const vars = { ticket: call.ticket, counter: BQ.counterLabel(c, forLang) };
    if (tpl) return tpl.split("{ticket}").join(vars.ticket).split("{counter}").join(vars.counter);
    return BQ.t("callingSay", vars, forLang);
  }

  async function drain() {
    if (speaking) return;
    speaking = true;
    while (queue.length) {
      const { call, view } = queue.shift();
      await chime();
      // Chinese first (the branch's language); English after it on ?lang=en screens.
      for (let i = 0; i < repeat; i++) {
        await say(line(call, view, "zh"), "zh-CN");
        if (BQ.lang === "en") await say(line(call, view, "en"), "en-US");
      }
    }
    speaking = false;
  }

  // Announce one call ({ticket, counter, recall}); recalls are announced again.
  function announce(call, view) {
    if (queue.length > 4) queue.splice(0, queue.length - 4); // a burst: keep the latest
    queue.push({ call, view });
    drain();
  }

  // Unlock audio on the first touch or key (for screens without the autoplay flag).
  const unlock = () => { audio(); };
  global.addEventListener("pointerdown", unlock, { once: true });
  global.addEventListener("keydown", unlock, { once: true });
  if (global.speechSynthesis) global.speechSynthesis.getVoices();
  if (chimeOn) audio(); // created now so a page can tell whether the browser holds sound back

  global.BQAnnounce = { announce, chime, say, audioState: () => (ctx ? ctx.state : "none") };
})(window);
