// Live SMS segment counter for the template admin: the same rules as channels/segments.py
// (GSM-7 160/153 septets, UCS-2 70/67 units, no character split across segments).
(function () {
  "use strict";
  const BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const EXTENSION = "^{}\\[~]|€\f";
  const URL = /https?:\/\/[^\s<>"']+/g;

  function gsmWidth(ch) {
    if (BASIC.includes(ch)) return 1;
    if (EXTENSION.includes(ch)) return 2;
    return null;
  }

  function pack(widths, single, multi) {
    const total = widths.reduce((a, b) => a + b, 0);
    if (total <= single) return widths.length ? 1 : 0;
    let segments = 1, used = 0;
    for (const w of widths) {
      if (used + w > multi) { segments += 1; used = 0; }
      used += w;
    }
    return segments;
  }

  function count(text) {
    const chars = Array.from(text);  // code points: an emoji stays whole
    const gsm = chars.map(gsmWidth);
    if (!gsm.includes(null)) {
      return { encoding: "GSM-7", units: gsm.reduce((a, b) => a + b, 0), segments: pack(gsm, 160, 153), nonGsm: "" };
    }
    const widths = chars.map((ch) => (ch.codePointAt(0) > 0xffff ? 2 : 1));
    const nonGsm = [...new Set(chars.filter((ch, i) => gsm[i] === null))].join("");
    return { encoding: "UCS-2", units: widths.reduce((a, b) => a + b, 0), segments: pack(widths, 70, 67), nonGsm };
  }

  function update(field, out) {
    const shortLink = out.dataset.shortLink;
    const info = count(field.value.replace(URL, shortLink));
    const price = parseFloat(out.dataset.price || "0");
    const warnings = [];
    if (info.encoding === "UCS-2") warnings.push(`UCS-2 because of ${info.nonGsm}: 70 characters per segment`);
    if (info.segments > 2) warnings.push(`${info.segments} segments`);
    out.textContent = `${info.encoding} · ${info.units} units · ${info.segments} segment(s) · ` +
      `about ${(info.segments * price).toFixed(4)} per message` +
      (warnings.length ? ` · warning: ${warnings.join("; ")}` : "");
    out.className = warnings.length ? "errornote" : "help";
  }

  document.addEventListener("DOMContentLoaded", function () {
    const field = document.getElementById("id_sms_body");
    const out = document.getElementById("segment-counter");
    if (!field || !out) return;
    field.insertAdjacentElement("afterend", out);
    field.addEventListener("input", () => update(field, out));
    update(field, out);
  });
  window.tandemSegments = { count };
})();
