// The clone page: how each clone's background fit goes, live from the account's socket.
import { fitShow } from "./fit.js";

let retryDelay = 500;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/voices/`);
  socket.addEventListener("open", () => {
    retryDelay = 500;
    document.body.dataset.fitLive = "open";
  });
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type !== "voice.fit") return;
    fitShow(event.voice);
    if (event.voice.status === "improved") {
      // Its preview was of the first profile: a new one is being recorded.
      const player = document.querySelector(`audio[data-preview-voice="${event.voice.voice_id}"]`);
      if (player) player.replaceWith(Object.assign(document.createElement("span"), {
        className: "muted small",
        textContent: "Its new preview is being recorded; reload the page in a moment.",
      }));
    }
  });
  socket.addEventListener("close", (event) => {
    document.body.dataset.fitLive = "closed";
    if (event.code >= 4400 && event.code < 4500) return; // signed out, too many pages: no retry
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  });
}

if (document.querySelector("[data-fit-voice]")) connect();
