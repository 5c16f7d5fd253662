// "Hear it": a short sentence with the rule's word, made the way any Studio take is made (the
// session's own generations endpoint, in the user's latest session, with their rules applied),
// then played here.
const voiceSelect = document.getElementById("hear-voice");
const statusLine = document.getElementById("hear-status");
const player = document.getElementById("hear-player");
const ENDED = new Set(["done", "failed", "cancelled"]);

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function latestSession() {
  // The Studio's front door opens the latest session (making one if there is none).
  const response = await fetch(voiceSelect.dataset.studioUrl, { credentials: "same-origin" });
  const found = new URL(response.url).pathname.match(/\/studio\/sessions\/([0-9a-f-]{36})\//);
  if (!found) throw new Error("The Studio did not open a session.");
  return found[1];
}

async function answer(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || `The Studio answered ${response.status}.`);
  return body;
}

async function hear(match, button) {
  button.disabled = true;
  player.hidden = true;
  statusLine.textContent = `Making “${match}”…`;
  try {
    const session = await latestSession();
    const feed = `/studio/sessions/${session}/generations`;
    const created = await answer(
      await fetch(feed, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ text: `Here is ${match}.`, voice_id: voiceSelect.value, verify: false }),
      }),
    );
    let generation = created.generation;
    for (let tries = 0; !ENDED.has(generation.status) && tries < 120; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const state = await answer(await fetch(`${feed}?since=${generation.id}`, { credentials: "same-origin" }));
      generation = state.generations.find((g) => g.id === generation.id) || generation;
    }
    if (generation.status !== "done" || !generation.audio_url) {
      throw new Error(generation.error || "The take did not finish.");
    }
    statusLine.textContent = `“${match}”, as your rules say it:`;
    player.src = generation.audio_url;
    player.hidden = false;
    await player.play().catch(() => {}); // a browser may want a second click to play
  } catch (error) {
    statusLine.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

document.querySelectorAll(".hear-button").forEach((button) => {
  button.addEventListener("click", () => hear(button.dataset.match, button));
});
