"""Task names and queues: the only thing beat, Flower and clients know about tasks.

Workers register the code under these names (``echonote.worker``); everyone
else sends by name with ``app.send_task(NAME)`` or ``app.signature(NAME)``.
"""

RESET_DAILY_QUOTAS = "echonote.reset_daily_quotas"
PING = "echonote.ping"
REQUEUE_STRANDED = "echonote.requeue_stranded"
#: deletes uploads and result folders past their retention (beat sends it every ECHONOTE_CLEANUP_SECONDS)
CLEANUP_FILES = "echonote.cleanup_files"
DIARIZE = "echonote.diarize"
TRANSCRIBE = "echonote.transcribe"
ATTRIBUTE = "echonote.attribute"
#: computes a voiceprint (speaker embedding) from audio clips and stores it under a name for the job's user
ENROLL_SPEAKER = "echonote.enroll_speaker"
#: renames a diarization result's speakers after the user's voiceprints (a canvas: diarize -> identify)
IDENTIFY_SPEAKERS = "echonote.identify_speakers"
#: a transcript canvas's error callback (link_error): closes the job row when a part fails
CANVAS_FAILED = "echonote.canvas_failed"

DIARIZATION_QUEUE = "diarization"
DEFAULT_QUEUE = "default"

#: task name -> queue it is routed to
ROUTES = {
    DIARIZE: DIARIZATION_QUEUE,
    TRANSCRIBE: DIARIZATION_QUEUE,
    ATTRIBUTE: DEFAULT_QUEUE,
    ENROLL_SPEAKER: DIARIZATION_QUEUE,  # runs the speaker-embedding model
    IDENTIFY_SPEAKERS: DIARIZATION_QUEUE,
    CANVAS_FAILED: DEFAULT_QUEUE,
    RESET_DAILY_QUOTAS: DEFAULT_QUEUE,
    REQUEUE_STRANDED: DEFAULT_QUEUE,
    CLEANUP_FILES: DEFAULT_QUEUE,
    PING: DEFAULT_QUEUE,
}

#: every task a complete worker (``--include=echonote.worker.tasks``) registers
ALL_TASKS = tuple(ROUTES)

# --- message headers: how a worker finds the job row a message belongs to
#: the job id a task message carries (read by echonote.worker.jobs)
JOB_HEADER = "echonote_job_id"
#: on the parts of a canvas: the job whose charge they settle, without owning its row
CHARGE_HEADER = "echonote_charge_job_id"
