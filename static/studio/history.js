// The History page works without this: it only keeps one clip playing at a time.
document.addEventListener(
  "play",
  (event) => {
    if (!(event.target instanceof HTMLAudioElement)) return;
    document.querySelectorAll("#history audio").forEach((audio) => {
      if (audio !== event.target) audio.pause();
    });
  },
  true,
);
