"""Stand-in for worker-sdxl ``schemas.py``."""

INPUT_SCHEMA = {
    'prompt': {'type': str, 'required': False},
    'negative_prompt': {'type': str, 'required': False, 'default': None},
    'height': {'type': int, 'required': False, 'default': 1024},
    'width': {'type': int, 'required': False, 'default': 1024},
    'seed': {'type': int, 'required': False, 'default': None},
    'scheduler': {'type': str, 'required': False, 'default': 'DDIM'},
    'num_inference_steps': {'type': int, 'required': False, 'default': 25},
    'refiner_inference_steps': {'type': int, 'required': False, 'default': 50},
    'guidance_scale': {'type': float, 'required': False, 'default': 7.5},
    'strength': {'type': float, 'required': False, 'default': 0.3},
    'image_url': {'type': str, 'required': False, 'default': None},
    'num_images': {'type': int, 'required': False, 'default': 1,
                   'constraints': lambda img_count: 3 > img_count > 0},
    'high_noise_frac': {'type': float, 'required': False, 'default': None},
}
