// Recording a reference in the browser, where it allows: the microphone's audio is decoded and
// written as a 16-bit mono WAV, then put in the form's file field as if it had been chosen.
const input = document.getElementById("clone-audio");
const button = document.getElementById("record-button");
const status = document.getElementById("record-status");
const preview = document.getElementById("clip-preview");
const SECONDS = 8;

function showClip(file) {
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
}

input.addEventListener("change", () => input.files[0] && showClip(input.files[0]));

function wavFromBuffer(buffer) {
  const samples = buffer.getChannelData(0);
  const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, buffer.sampleRate, true); view.setUint32(28, buffer.sampleRate * 2, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true); text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new File([view], "recording.wav", { type: "audio/wav" });
}

async function record() {
  button.disabled = true;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    const chunks = [];
    recorder.ondataavailable = (event) => chunks.push(event.data);
    const stopped = new Promise((resolve) => (recorder.onstop = resolve));
    recorder.start();
    for (let left = SECONDS; left > 0; left--) {
      status.textContent = `Recording… ${left} s left. Speak naturally.`;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    recorder.stop();
    await stopped;
    stream.getTracks().forEach((track) => track.stop());
    const context = new AudioContext();
    const buffer = await context.decodeAudioData(await new Blob(chunks).arrayBuffer());
    const file = wavFromBuffer(buffer);
    const transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    showClip(file);
    status.textContent = "Recorded. Listen, then create the voice, or record again.";
  } catch (error) {
    status.textContent = "Recording is not available here; choose a file instead.";
  } finally {
    button.disabled = false;
  }
}

if (navigator.mediaDevices?.getUserMedia && window.MediaRecorder) {
  button.hidden = false;
  button.addEventListener("click", record);
}
