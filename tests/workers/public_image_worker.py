"""Stand-in for a public image endpoint (``black-forest-labs-flux-1-schnell`` and kin):
``{"image_url": URL, "cost": dollars}``; the URL is given by the test (``url``)."""

import runpod


def handler(job):
    return {"image_url": job["input"]["url"], "cost": 0.0024}


runpod.serverless.start({"handler": handler})
