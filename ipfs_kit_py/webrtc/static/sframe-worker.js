// SFrame (RFC 9605) decryption of H.264 frames in an RTCRtpScriptTransform worker.
// The format is ipfs_kit_py/sframe.py's (docs/sframe.md): parameter sets and the first
// 3 bytes of the first slice NAL clear (the SFrame metadata), then the escaped SFrame
// ciphertext and a 0x80 trailer. The key comes from the page by postMessage and never
// leaves this browser. Frames are held back until the page says what to do with them.
"use strict";

const SUITE = 0x0004, NK = 16, NN = 12, NT = 16, CLEAR = 3;
const modes = [];           // per transform (options.index): hold | pass | decrypt | drop
let base = null;            // CryptoKey (HKDF) of the base key
const keys = new Map();     // kid -> Promise<{key, salt}>
const counts = { decrypted: 0, dropped: 0, failed: 0 };
let lastPost = 0;

function post(extra) {
  const now = Date.now();
  if (extra || now - lastPost > 200) {
    lastPost = now;
    self.postMessage({ type: "sframe", counts: { ...counts }, ...(extra || {}) });
  }
}

self.onmessage = async (ev) => {
  const msg = ev.data;
  if (msg.key) {
    const raw = new Uint8Array(msg.key.match(/../g).map((h) => parseInt(h, 16)));
    base = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveBits"]);
    keys.clear();
  }
  modes[msg.index || 0] = msg.mode;
};

function derive(kid) {
  if (!keys.has(kid)) {
    keys.set(kid, (async () => {
      const suffix = new Uint8Array(10);
      const view = new DataView(suffix.buffer);
      view.setBigUint64(0, BigInt(kid));
      view.setUint16(8, SUITE);
      const bits = async (label, n) => {
        const prefix = new TextEncoder().encode(label);
        const info = new Uint8Array(prefix.length + 10);
        info.set(prefix);
        info.set(suffix, prefix.length);
        return new Uint8Array(await crypto.subtle.deriveBits(
          { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, base, n * 8));
      };
      const key = await crypto.subtle.importKey("raw", await bits("SFrame 1.0 Secret key ", NK), "AES-GCM", false, ["decrypt"]);
      return { key, salt: await bits("SFrame 1.0 Secret salt ", NN) };
    })());
  }
  return keys.get(kid);
}

function firstSlice(d) {
  // the first NAL unit of type 1 or 5 after a 00 00 01 start code
  for (let i = 0; i + 3 < d.length; i++) {
    if (d[i] === 0 && d[i + 1] === 0 && d[i + 2] === 1) {
      const t = d[i + 3] & 0x1f;
      if (t === 1 || t === 5) return i + 3;
      i += 2;
    }
  }
  throw new Error("no slice NAL unit in the frame");
}

function unescape(d, zeros) {
  const out = new Uint8Array(d.length);
  let n = 0;
  for (const b of d) {
    if (zeros >= 2 && b === 3) { zeros = 0; continue; }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

function readHeader(d) {
  const first = d[0];
  let pos = 1, kid, ctr = 0n;
  if (first & 0x80) {
    const n = ((first >> 4) & 7) + 1;
    kid = 0; for (let i = 0; i < n; i++) kid = kid * 256 + d[pos + i];
    pos += n;
  } else kid = (first >> 4) & 7;
  if (first & 0x08) {
    const n = (first & 7) + 1;
    for (let i = 0; i < n; i++) ctr = ctr * 256n + BigInt(d[pos + i]);
    pos += n;
  } else ctr = BigInt(first & 7);
  return { kid, ctr, length: pos };
}

async function unprotect(d) {
  const s = firstSlice(d);
  const metadata = d.subarray(s, s + CLEAR);
  let end = d.length;
  while (end > 0 && d[end - 1] === 0) end--;
  if (end <= s + CLEAR || d[end - 1] !== 0x80) throw Object.assign(new Error("frame is not SFrame-protected"), { code: "sframe_not_protected" });
  let zeros = 0;
  for (let i = metadata.length - 1; i >= 0 && metadata[i] === 0 && zeros < 2; i--) zeros++;
  const sf = unescape(d.subarray(s + CLEAR, end - 1), zeros);
  const { kid, ctr, length } = readHeader(sf);
  if (sf.length < length + NT) throw new Error("truncated SFrame ciphertext");
  const { key, salt } = await derive(kid);
  const nonce = salt.slice();
  for (let i = 0; i < 8; i++) nonce[NN - 1 - i] ^= Number((ctr >> BigInt(8 * i)) & 0xffn);
  const aad = new Uint8Array(length + CLEAR);
  aad.set(sf.subarray(0, length));
  aad.set(metadata, length);
  let plain;
  try {
    plain = new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: NT * 8 }, key, sf.subarray(length)));
  } catch (e) {
    throw Object.assign(new Error(`frame ${ctr} (KID ${kid}) does not authenticate: wrong key or tampered`),
                        { code: "sframe_auth_failed" });
  }
  const out = new Uint8Array(s + CLEAR + plain.length);
  out.set(d.subarray(0, s + CLEAR));
  out.set(plain, s + CLEAR);
  return out.buffer;
}

async function transform(index, frame, controller) {
  const mode = modes[index] || "hold";
  if (mode === "pass") return controller.enqueue(frame);
  if (mode !== "decrypt") { counts.dropped++; post(); return; }  // hold, drop: never decoded
  try {
    frame.data = await unprotect(new Uint8Array(frame.data));
    counts.decrypted++;
    controller.enqueue(frame);
    post();
  } catch (e) {
    counts.failed++;
    post({ error: { code: e.code || "sframe_auth_failed", error: String(e.message || e) } });
  }
}

self.onrtctransform = (event) => {
  const t = event.transformer;
  const index = (t.options && t.options.index) || 0;
  t.readable.pipeThrough(new TransformStream({ transform: (f, c) => transform(index, f, c) })).pipeTo(t.writable);
};
