"""hw4 variants for `course audit hw4`: realistic mistakes (one each) and other correct formulations,
kept by the file they edit (variants_prune.py: tasks 4.1-4.2, variants_quantize.py: 4.3-4.5,
variants_compress.py: 4.6-4.7). Task 4.7's experiment runs the student's global_masks,
apply_masks, kmeans_share and centroid_gradients, so a mistake there that breaks the compression
loses 4.7 as well, and says so in its `loses`."""

from grader.suites.hw4.hidden import variants_compress, variants_prune, variants_quantize

WRONG = variants_prune.WRONG + variants_quantize.WRONG + variants_compress.WRONG
CORRECT = variants_prune.CORRECT + variants_quantize.CORRECT + variants_compress.CORRECT
