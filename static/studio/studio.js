// The Studio page: the composer, the live feed over a websocket, and the players.
import WaveSurfer from "../vendor/wavesurfer/wavesurfer.esm.js";
import { fitShow } from "../voices/fit.js";

const sessionId = JSON.parse(document.getElementById("session-id").textContent);
const feed = document.getElementById("feed");
const feedEmpty = document.getElementById("feed-empty");
const role = JSON.parse(document.getElementById("access-role").textContent);
const canGenerate = role === "owner" || role === "editor";
const form = document.getElementById("composer");
const textarea = document.getElementById("composer-text");
const voiceSelect = document.getElementById("composer-voice");
const verifyBox = document.getElementById("composer-verify");
const speedSelect = document.getElementById("composer-speed");
const counter = document.getElementById("composer-count");
const estimate = document.getElementById("composer-estimate");
const submitButton = document.getElementById("composer-submit");
const errorBox = document.getElementById("composer-error");
const previewButton = document.getElementById("voice-preview");
const connection = document.getElementById("connection");
const generationsUrl = `/studio/sessions/${sessionId}/generations`;

// Waveform bars drawn while audio arrives: one bar per PEAKS_PER_BAR peaks.
const PEAKS_PER_BAR = 5;
const BAR_WIDTH = 3;
const BAR_GAP = 1;

const items = new Map(); // generation id -> {el, state, peaks, player, words, current}

// ---------- formatting ----------

function formatSeconds(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function formatTime(iso) {
  const date = new Date(iso);
  return date.toLocaleString(undefined, { hour: "2-digit", minute: "2-digit", month: "short", day: "numeric" });
}

function statusText(state) {
  switch (state.status) {
    case "queued":
      return "Queued: waiting for a free voice engine…";
    case "running":
      if (state.stage === "warming_up") {
        return "Warming up the voice engine. The first request after a quiet spell takes a little longer…";
      }
      if (state.chunks > 0) {
        return `Generating part ${state.chunk} of ${state.chunks} · ${state.seconds.toFixed(1)} s of audio`;
      }
      return "Starting…";
    case "failed":
      return `Failed: ${state.error || "something went wrong."}`;
    case "cancelled":
      return "Cancelled.";
    default:
      return "";
  }
}

// ---------- feed items ----------

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function createItem(state) {
  const el = element("li", "gen");
  el.id = `gen-${state.id}`;
  const meta = element("div", "gen-meta");
  meta.append(element("span", "gen-voice", state.voice_name), element("span", "gen-dot", "·"));
  if (state.language_name) {
    // The language the text was read in (named in the request, or detected from it).
    meta.append(element("span", "gen-language", state.language_name), element("span", "gen-dot", "·"));
  }
  const time = element("time", "gen-time", formatTime(state.created_at));
  time.dateTime = state.created_at;
  const unverified = element("span", "gen-unverified badge", "some words may be wrong");
  unverified.hidden = true;
  meta.append(time, element("span", "gen-duration"), element("span", "gen-cost"), unverified);
  const text = element("p", "gen-text", state.text);
  const status = element("p", "gen-status");
  status.setAttribute("role", "status");
  const progress = element("div", "gen-progress");
  progress.append(element("div", "gen-progress-bar"));
  const live = element("canvas", "gen-live");
  live.height = 48;
  live.setAttribute("aria-hidden", "true");
  const player = element("div", "gen-player");
  const actions = element("div", "gen-actions");
  el.append(meta, text, status, progress, live, player, actions);
  return el;
}

function actionButton(label, action, state, extraClass = "") {
  const button = element("button", `link-button ${extraClass}`.trim(), label);
  button.type = "button";
  button.addEventListener("click", () => act(action, state.id, button));
  return button;
}

function renderActions(item) {
  const { el, state } = item;
  const box = el.querySelector(".gen-actions");
  const running = state.status === "queued" || state.status === "running";
  // can_cancel and can_delete come from the server, computed for this viewer by its own rule.
  const key = `${state.status}:${Boolean(state.audio_url)}:${Boolean(state.can_cancel)}:${Boolean(state.can_delete)}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren();
  if (running) {
    if (state.can_cancel) box.append(actionButton("Cancel", "cancel", state));
    return;
  }
  // One link a format (WAV, MP3, FLAC, Opus); each is encoded once, on its first download.
  Object.entries(state.downloads || {}).forEach(([name, url], i) => {
    const label = name === "opus" ? "Opus" : name.toUpperCase();
    const link = element("a", "download-link", i === 0 ? `Download ${label}` : label);
    link.href = url;
    link.setAttribute("download", "");
    link.setAttribute("aria-label", `Download ${label}`);
    box.append(link);
  });
  if (canGenerate) box.append(actionButton("Generate again", "again", state));
  if (state.can_delete) box.append(actionButton("Delete", "delete", state, "danger-link"));
}

async function act(action, generationId, button) {
  if (action === "delete" && !confirm("Delete this generation and its audio?")) return;
  button.disabled = true;
  try {
    const response = await fetch(`/studio/generations/${generationId}/${action}`, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      showError(body.message || `That did not work (${response.status}).`);
      return;
    }
    if (action === "again" && body.generation) upsert(body.generation);
    if (action === "delete") removeItem(generationId);
  } finally {
    button.disabled = false;
  }
}

function removeItem(generationId) {
  const item = items.get(generationId);
  if (!item) return;
  item.player?.destroy();
  item.el.remove();
  items.delete(generationId);
  feedEmpty.hidden = items.size > 0;
}

function upsert(state, newPeaks, peaksOffset) {
  let item = items.get(state.id);
  if (!item) {
    item = { el: createItem(state), state, peaks: [], player: null };
    items.set(state.id, item);
    feed.append(item.el);
    feedEmpty.hidden = true;
  }
  if (Array.isArray(state.peaks)) {
    item.peaks = state.peaks.slice();
  }
  if (Array.isArray(newPeaks) && newPeaks.length) {
    item.peaks.splice(peaksOffset, newPeaks.length, ...newPeaks);
  }
  item.state = { ...item.state, ...state };
  render(item);
}

function render(item) {
  const { el, state } = item;
  el.dataset.status = state.status;
  el.querySelector(".gen-status").textContent = statusText(state);
  el.querySelector(".gen-duration").textContent = state.seconds ? `${state.seconds.toFixed(1)} s` : "";
  el.querySelector(".gen-cost").textContent = state.cost ? `· ${state.cost_credits} credits` : "";
  // A verified take some of whose parts still did not match their words after being spoken again.
  const unverified = el.querySelector(".gen-unverified");
  const failedParts = state.verification?.status === "failed" ? state.verification.failed : [];
  unverified.hidden = !failedParts.length;
  unverified.title = failedParts.length
    ? `The speech check heard different words in part ${failedParts.join(", ")}, even after speaking it again.`
    : "";
  const running = state.status === "queued" || state.status === "running";
  const progress = el.querySelector(".gen-progress");
  progress.hidden = !running;
  const fraction = state.chunks ? (state.chunk - 1 + 0.5) / state.chunks : 0.02;
  progress.firstChild.style.width = `${Math.min(100, Math.max(2, fraction * 100))}%`;
  const live = el.querySelector(".gen-live");
  live.hidden = !(running && item.peaks.length);
  if (!live.hidden) drawLivePeaks(live, item.peaks);
  if (state.audio_url && !running && !item.player) {
    item.player = createPlayer(el.querySelector(".gen-player"), state, item.peaks);
    item.player.on("timeupdate", (t) => wordsFollow(item, t));
  }
  if (!item.words && state.words?.length) wordsRender(item);
  renderActions(item);
}

function drawLivePeaks(canvas, peaks) {
  const width = canvas.clientWidth || 600;
  canvas.width = width * devicePixelRatio;
  canvas.height = 48 * devicePixelRatio;
  const ctx = canvas.getContext("2d");
  ctx.scale(devicePixelRatio, devicePixelRatio);
  ctx.clearRect(0, 0, width, 48);
  const bars = [];
  for (let i = 0; i < peaks.length; i += PEAKS_PER_BAR) {
    bars.push(Math.max(...peaks.slice(i, i + PEAKS_PER_BAR)));
  }
  // Grow from the left; once the bars would overflow, squeeze them to fit.
  const step = Math.min(BAR_WIDTH + BAR_GAP, width / Math.max(bars.length, 1));
  ctx.fillStyle = getComputedStyle(canvas).color;
  bars.forEach((peak, i) => {
    const h = Math.max(2, peak * 44);
    ctx.fillRect(i * step, 24 - h / 2, Math.max(1, step - BAR_GAP), h);
  });
}

function createPlayer(container, state, peaks) {
  container.replaceChildren();
  const play = element("button", "play-button", "Play");
  play.type = "button";
  play.setAttribute("aria-label", "Play");
  const wave = element("div", "wave");
  const time = element("span", "play-time", `0:00 / ${formatSeconds(state.seconds)}`);
  // The player's own audio element, in the page (wavesurfer would keep its own out of it).
  const audio = element("audio");
  audio.preload = "metadata";
  audio.hidden = true;
  container.append(play, wave, time, audio);

  const styles = getComputedStyle(container);
  const wavesurfer = WaveSurfer.create({
    container: wave,
    media: audio,
    url: state.audio_url,
    peaks: peaks.length ? [peaks] : undefined,
    duration: state.seconds || undefined,
    height: 48,
    waveColor: styles.getPropertyValue("--wave").trim() || "#b8c2d6",
    progressColor: styles.getPropertyValue("--wave-progress").trim() || "#4f46e5",
    cursorColor: styles.getPropertyValue("--wave-progress").trim() || "#4f46e5",
    barWidth: 2,
    barGap: 1,
    barRadius: 2,
    dragToSeek: true,
  });
  const setPlaying = (playing) => {
    play.textContent = playing ? "Pause" : "Play";
    play.setAttribute("aria-label", playing ? "Pause" : "Play");
  };
  play.addEventListener("click", () => wavesurfer.playPause());
  wavesurfer.on("play", () => setPlaying(true));
  wavesurfer.on("pause", () => setPlaying(false));
  wavesurfer.on("finish", () => setPlaying(false));
  wavesurfer.on("timeupdate", (t) => {
    time.textContent = `${formatSeconds(t)} / ${formatSeconds(wavesurfer.getDuration() || state.seconds)}`;
  });
  wave.tabIndex = 0;
  wave.setAttribute("role", "slider");
  wave.setAttribute("aria-label", "Seek");
  wave.addEventListener("keydown", (event) => {
    const delta = { ArrowRight: 2, ArrowLeft: -2 }[event.key];
    if (delta) {
      wavesurfer.setTime(Math.max(0, wavesurfer.getCurrentTime() + delta));
      event.preventDefault();
    }
  });
  return wavesurfer;
}

// ---------- the words the player follows ----------

// The take's text as words (studio.selectors.generation_word_marks: [char_start, char_end, start,
// end]), cut from the text itself so its punctuation and spacing stay; built as text nodes only,
// since the text is the user's. One word is in the tab order at a time (the current one); arrows
// move between words, Enter or Space (or a click) plays from a word.
function wordsRender(item) {
  const box = item.el.querySelector(".gen-text");
  // Offsets count code points (Python's str), not UTF-16 units: an emoji is one character.
  const chars = Array.from(item.state.text);
  const spans = [];
  const parts = [];
  let at = 0;
  for (const [charStart, charEnd, start, end] of item.state.words) {
    if (!(charStart >= at && charEnd > charStart && charEnd <= chars.length)) continue; // out of order: left as text
    if (charStart > at) parts.push(document.createTextNode(chars.slice(at, charStart).join("")));
    const span = element("span", "word", chars.slice(charStart, charEnd).join(""));
    span.dataset.start = start;
    span.dataset.end = end;
    span.tabIndex = spans.length ? -1 : 0;
    parts.push(span);
    spans.push(span);
    at = charEnd;
  }
  if (!spans.length) return;
  if (at < chars.length) parts.push(document.createTextNode(chars.slice(at).join("")));
  box.replaceChildren(...parts);
  box.classList.add("gen-words");
  item.words = spans;
  item.current = -1;
  box.addEventListener("click", (event) => {
    const span = event.target.closest(".word");
    if (span) wordPlay(item, spans.indexOf(span));
  });
  box.addEventListener("keydown", (event) => {
    const index = spans.indexOf(event.target);
    if (index < 0) return;
    const move = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (move) {
      wordFocus(item, Math.min(spans.length - 1, Math.max(0, index + move)));
    } else if (event.key === "Enter" || event.key === " ") {
      wordPlay(item, index);
    } else {
      return;
    }
    event.preventDefault();
  });
}

function wordFocus(item, index) {
  item.words.forEach((span, i) => (span.tabIndex = i === index ? 0 : -1));
  item.words[index].focus();
}

function wordPlay(item, index) {
  if (!item.player || index < 0) return;
  item.player.setTime(Number(item.words[index].dataset.start));
  wordMark(item, index);
  item.player.play();
}

// The word whose [start, end) holds the time (none between sentences); words are in time order.
function wordAt(spans, seconds) {
  let low = 0;
  let high = spans.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const span = spans[middle];
    if (seconds < Number(span.dataset.start)) high = middle - 1;
    else if (seconds >= Number(span.dataset.end)) low = middle + 1;
    else return middle;
  }
  return -1;
}

function wordsFollow(item, seconds) {
  if (item.words) wordMark(item, wordAt(item.words, seconds));
}

function wordMark(item, index) {
  if (index === item.current) return;
  item.words[item.current]?.removeAttribute("aria-current");
  item.current = index;
  const span = item.words[index];
  if (!span) return;
  span.setAttribute("aria-current", "true");
  if (!item.el.contains(document.activeElement)) item.words.forEach((s, i) => (s.tabIndex = i === index ? 0 : -1));
  wordReveal(item.el.querySelector(".gen-text"), span);
}

// Scrolls the take's own text box (and nothing around it: the feed and the page stay put) so the
// word being spoken is in view once it leaves it.
function wordReveal(box, span) {
  const top = span.offsetTop; // the box is the word's offset parent (app.css)
  const bottom = top + span.offsetHeight;
  if (top < box.scrollTop) box.scrollTop = top;
  else if (bottom > box.scrollTop + box.clientHeight) box.scrollTop = bottom - box.clientHeight;
}

// ---------- composer ----------

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function showError(message) {
  if (!errorBox) {
    if (message) alert(message);
    return;
  }
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

function showSessionTitle(title) {
  if (!title) return;
  document.getElementById("session-title").textContent = title;
  const link = document.getElementById("current-session-link");
  if (link) link.textContent = title;
  document.title = `${title} · OuteAI`;
}

function formatCredits(micro) {
  return (micro / 1e6).toFixed(micro < 1000 ? 6 : 4).replace(/0+$/, "").replace(/\.$/, ".0");
}

function composerSpeed() {
  return speedSelect ? Number(speedSelect.value) : 1;
}

function updateCounter() {
  const maxChars = Number(textarea.getAttribute("maxlength"));
  const length = textarea.value.length;
  counter.textContent = `${length.toLocaleString()} / ${maxChars.toLocaleString()}`;
  counter.classList.toggle("counter-full", length >= maxChars);
  const text = textarea.value.trim();
  // Kana and kanji (engine/languages.py's KANA and KANJI) are read more slowly than other characters.
  const japanese = (text.match(/[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/g) || []).length;
  // Billed per second of audio: half the speed, twice the seconds.
  const micro = Math.round(
    ((text.length - japanese) * Number(form.dataset.microPerChar) +
      japanese * Number(form.dataset.microPerJapaneseChar)) /
      composerSpeed(),
  );
  estimate.textContent = micro ? `≈ ${formatCredits(micro)} credits` : "";
}

let submitting = false;

async function submit() {
  // One generation per press, however fast the presses: the composer waits for the server's answer.
  if (submitting) return;
  const text = textarea.value.trim();
  if (!text) {
    showError("Type some text to speak first.");
    textarea.focus();
    return;
  }
  showError("");
  submitting = true;
  submitButton.disabled = true;
  textarea.readOnly = true;
  form.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(generationsUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({
        text,
        voice_id: voiceSelect.value,
        verify: verifyBox ? verifyBox.checked : true,
        speed: composerSpeed(),
      }),
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      showError(body.message || `The request failed (${response.status}). Please try again.`);
      return;
    }
    upsert(body.generation);
    showSessionTitle(body.session_title);
    textarea.value = "";
    updateCounter();
    body.generation && document.getElementById(`gen-${body.generation.id}`)?.scrollIntoView({ block: "nearest" });
  } catch (error) {
    showError("Could not reach the server. Check your connection and try again.");
  } finally {
    submitting = false;
    form.removeAttribute("aria-busy");
    if (!liveEnded) {
      submitButton.disabled = false;
      textarea.readOnly = false;
      textarea.focus();
    }
  }
}

async function playPreview() {
  const url = voiceSelect.selectedOptions[0]?.dataset.preview;
  if (!url) return;
  previewButton.disabled = true;
  try {
    for (let attempt = 0; attempt < 15; attempt++) {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.status === 200) {
        await new Audio(URL.createObjectURL(await response.blob())).play();
        return;
      }
      if (response.status !== 202) break;
      previewButton.textContent = "Preparing…";
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    showError("No preview of this voice is available right now.");
  } finally {
    previewButton.textContent = "▶ Preview";
    previewButton.disabled = false;
  }
}

if (canGenerate) {
  textarea.addEventListener("input", updateCounter);
  speedSelect?.addEventListener("change", updateCounter);
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  previewButton.addEventListener("click", playPreview);
}

// ---------- live updates ----------

let socket = null;
let retryDelay = 500;
let liveEnded = false;

// Close codes the server (studio/consumers.py) ends a socket with, and what the page then says.
// After any other code the page reconnects.
const CLOSE_MESSAGES = {
  4401: "You signed out in this browser. Sign in again to follow this session.",
  4403: "You no longer have access to this session.",
  4404: "This session is no longer available.",
  4429: "Too many Studio pages are open for your account. Close some, then reload this one.",
};

const RECHECKED_CLOSE_CODES = new Set([4401, 4403]);

// Whether this browser may still follow the session: "yes", "no" (the feed answers 404, or the
// sign-in page), or "unknown" (the network is down; keep trying).
async function followAllowed() {
  try {
    const response = await fetch(generationsUrl, { credentials: "same-origin" });
    return response.ok && response.headers.get("content-type")?.includes("json") ? "yes" : "no";
  } catch {
    return "unknown";
  }
}

function endLive(message) {
  liveEnded = true;
  setConnection("closed", message);
  if (canGenerate) {
    textarea.readOnly = true;
    submitButton.disabled = true;
  }
  for (const button of feed.querySelectorAll(".gen-actions button")) button.disabled = true;
}

function setConnection(state, label) {
  connection.dataset.state = state;
  connection.textContent = label;
}

async function catchUp() {
  // Everything since the oldest item on the page: what changed or arrived while away.
  const oldest = items.keys().next().value;
  const url = oldest ? `${generationsUrl}?since=${oldest}` : generationsUrl;
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) return;
  const body = await response.json();
  const present = new Set(body.generations.map((state) => state.id));
  for (const id of [...items.keys()]) if (!present.has(id)) removeItem(id);
  for (const state of body.generations) upsert(state);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/studio/sessions/${sessionId}/`);
  let opened = false;
  socket.addEventListener("open", () => {
    opened = true;
    retryDelay = 500;
    setConnection("open", "Live");
    catchUp();
  });
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "generation.update") upsert(event.generation, event.peaks, event.peaks_offset);
    if (event.type === "generation.deleted") removeItem(event.generation_id);
    if (event.type === "voice.fit") fitShow(event.voice);
    if (event.type === "wallet.update") {
      const balance = document.getElementById("wallet-balance");
      if (balance) balance.textContent = event.balance_credits;
    }
  });
  socket.addEventListener("close", async (event) => {
    if (CLOSE_MESSAGES[event.code]) {
      // A socket opened with a sign-in that was renewed since (a password change in this browser
      // re-signs it under a new key) closes too; the page still sees the session, so it goes on.
      if (RECHECKED_CLOSE_CODES.has(event.code) && (await followAllowed()) === "yes") {
        setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 10000);
        return;
      }
      endLive(CLOSE_MESSAGES[event.code]);
      return;
    }
    // A socket refused before it opened carries no code (1006): the feed says whether it ever will.
    if (!opened && (await followAllowed()) === "no") {
      endLive(CLOSE_MESSAGES[4403]);
      return;
    }
    setConnection("connecting", "Reconnecting…");
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  });
}

for (const state of JSON.parse(document.getElementById("feed-data").textContent)) upsert(state);
connect();
if (canGenerate) {
  updateCounter();
  textarea.focus();
}
