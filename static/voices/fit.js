// A clone's background fit as the Studio shows it (the server renders the same words first:
// voices.models.Voice.fit_label), updated from "voice.fit" events of the account's socket.

export function fitLabel(fit) {
  switch (fit.status) {
    case "queued":
    case "fitting":
      return `improving your voice… ${Math.round((fit.progress || 0) * 100)}%`;
    case "improved":
      return "improved";
    case "kept":
    case "failed":
      return "kept as it was";
    default:
      return "";
  }
}

// Every place on the page that shows this clone's fit: the voice selector's option (its own name
// in data-label, then the state) and the clone page's line.
export function fitShow(fit) {
  const label = fitLabel(fit);
  for (const el of document.querySelectorAll(`[data-fit-voice="${fit.voice_id}"]`)) {
    el.dataset.fitStatus = fit.status;
    if (el.tagName === "OPTION") el.textContent = label ? `${el.dataset.label} · ${label}` : el.dataset.label;
    else el.textContent = label ? label[0].toUpperCase() + label.slice(1) : "";
  }
}
