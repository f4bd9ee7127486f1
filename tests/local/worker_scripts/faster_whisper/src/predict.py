"""Stand-in for worker-faster_whisper ``src/predict.py``: a Predictor whose ``predict``
returns the worker's result dict, computed by the ``transcribe`` example."""

from rp_jupyter.local.examples import transcribe

AVAILABLE_MODELS = set(transcribe.AVAILABLE_MODELS)


class Predictor:
    """A Predictor class for the Whisper model with lazy loading"""

    def __init__(self):
        self.models = {}

    def setup(self):
        """No models are pre-loaded. Setup is minimal."""

    def predict(self, audio, model_name="base", transcription="plain_text", translate=False,
                translation="plain_text", language=None, word_timestamps=False, **decoding):
        if model_name not in AVAILABLE_MODELS:
            raise ValueError(f"Invalid model name: {model_name}. "
                             f"Available models are: {AVAILABLE_MODELS}")
        self.models.setdefault(model_name, object())
        with open(str(audio), "rb") as handle:
            data = handle.read()
        return transcribe.transcribe(data, model=model_name, transcription=transcription,
                                     translate=translate, translation=translation,
                                     language=language, word_timestamps=word_timestamps)
