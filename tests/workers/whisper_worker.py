"""Stand-in for worker-faster_whisper (src/rp_handler.py, src/predict.py): the handler is
``run_whisper_job``; the answer has ``segments``, ``detected_language``, ``transcription``
in the asked format (``plain_text``, ``formatted_text``, ``srt``, ``vtt``), ``translation``,
``device`` and ``model``, written the way predict.py writes them."""

import base64

import runpod
from subtitles import format_segments

LINES = [(0.0, 2.5, " The lighthouse keeper counted the waves."),
         (2.5, 5.25, " He wrote their names in a small blue book."),
         (5.25, 9.0, " Nobody else was allowed to read it.")]


def run_whisper_job(job):
    job_input = job["input"]
    if not job_input.get("audio") and not job_input.get("audio_base64"):
        return {"error": "Must provide either audio or audio_base64"}
    if job_input.get("audio_base64"):
        base64.b64decode(job_input["audio_base64"], validate=True)
    segments = [{"id": i, "seek": 0, "start": start, "end": end, "text": text,
                 "tokens": [50364 + i], "temperature": 0.0, "avg_logprob": -0.2,
                 "compression_ratio": 1.1, "no_speech_prob": 0.01}
                for i, (start, end, text) in enumerate(LINES)]
    return {"segments": segments, "detected_language": "en",
            "transcription": format_segments(job_input.get("transcription", "plain_text"),
                                             segments),
            "translation": None, "device": "cpu", "model": job_input.get("model", "base")}


runpod.serverless.start({"handler": run_whisper_job})
