"""Transcript formats written the way worker-faster_whisper's src/predict.py writes them."""


def format_timestamp(seconds, always_include_hours=False, decimal_marker="."):
    milliseconds = round(seconds * 1000.0)
    hours = milliseconds // 3_600_000
    milliseconds -= hours * 3_600_000
    minutes = milliseconds // 60_000
    milliseconds -= minutes * 60_000
    seconds = milliseconds // 1_000
    milliseconds -= seconds * 1_000
    hours_marker = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_marker}{minutes:02d}:{seconds:02d}{decimal_marker}{milliseconds:03d}"


def format_segments(kind, segments):
    if kind == "formatted_text":
        return "\n".join(s["text"].lstrip() for s in segments)
    if kind == "srt":
        result = ""
        for i, s in enumerate(segments, start=1):
            result += f"{i}\n"
            result += f"{format_timestamp(s['start'], True, ',')} --> "
            result += f"{format_timestamp(s['end'], True, ',')}\n"
            result += f"{s['text'].strip().replace('-->', '->')}\n\n"
        return result
    if kind == "vtt":
        result = ""
        for s in segments:
            result += (f"{format_timestamp(s['start'], True)} --> "
                       f"{format_timestamp(s['end'], True)}\n")
            result += f"{s['text'].strip().replace('-->', '->')}\n\n"
        return result
    return " ".join(s["text"].lstrip() for s in segments)
