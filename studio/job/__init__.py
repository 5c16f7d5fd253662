"""The worker's side of a generation, apart from the request's (studio.services): the fair claim
from the rows (claim), the job itself with its heartbeat, progress and peaks (run), its end and
the deletions it carries through (end), and the sweep that gives back the jobs of dead workers
(sweep). Celery (studio.tasks) only rings the bell; these modules never enqueue."""
