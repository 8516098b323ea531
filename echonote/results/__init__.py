"""Results are data: attribution of words to speakers, transcript formats and subtitles, DER and WER
scoring, plots, the bundled samples and the benchmark runner. Clients and notebooks use these;
beat and Flower never import them (some need numpy, pyannote.metrics or matplotlib)."""
