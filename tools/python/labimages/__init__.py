"""The lab images (tools/images): their recipes, the content key of each build, and the index setup writes.

`make images` builds them (tools/images/build.sh, never a test); this package only reads what was built and
says, naming `make images`, when the cache is missing or older than the recipes.
"""

from labimages.index import LabImage, LabImagesError, lab_images, reference_of
from labimages.inputs import input_hash, read_recipe

__all__ = ["LabImage", "LabImagesError", "input_hash", "lab_images", "read_recipe", "reference_of"]
