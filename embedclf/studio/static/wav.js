// Microphone capture and WAV encoding, with no library: WebAudio gives float samples,
// which are kept as they are (live preview) or written as a 16-bit PCM WAV file (takes).
"use strict";

const Mic = {
  async open(onBlock) {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const ctx = new AudioContext();
    const source = ctx.createMediaStreamSource(stream);
    const node = ctx.createScriptProcessor(4096, 1, 1);
    node.onaudioprocess = (e) => onBlock(new Float32Array(e.inputBuffer.getChannelData(0)));
    source.connect(node);
    node.connect(ctx.destination); // a ScriptProcessor runs only when connected
    return {
      sampleRate: ctx.sampleRate,
      close() {
        node.disconnect(); source.disconnect();
        stream.getTracks().forEach((t) => t.stop());
        return ctx.close();
      },
    };
  },

  // Record `seconds` of audio; resolves to {samples: Float32Array, sampleRate}.
  async record(seconds) {
    const blocks = [];
    let n = 0, need = 0, done;
    const finished = new Promise((resolve) => (done = resolve));
    const mic = await Mic.open((block) => {
      if (n >= need) return;
      blocks.push(block); n += block.length;
      if (n >= need) done();
    });
    need = Math.round(seconds * mic.sampleRate);
    await finished;
    await mic.close();
    const out = new Float32Array(need);
    let off = 0;
    for (const b of blocks) { out.set(b.subarray(0, Math.min(b.length, need - off)), off); off += b.length; if (off >= need) break; }
    return { samples: out, sampleRate: mic.sampleRate };
  },
};

function encodeWav(samples, sampleRate) {
  const buf = new ArrayBuffer(44 + samples.length * 2);
  const v = new DataView(buf);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); v.setUint32(4, 36 + samples.length * 2, true); str(8, "WAVE");
  str(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true); v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  str(36, "data"); v.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + i * 2, s < 0 ? s * 32768 : s * 32767, true);
  }
  return new Blob([buf], { type: "audio/wav" });
}
