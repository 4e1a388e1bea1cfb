"""modules/progress.py: the task queue the UI and the API report to before they wait for
`call_queue.queue_lock` (`add_task_to_queue`), and leave when they start (`start_task`)."""

import time

current_task = None
pending_tasks = {}
finished_tasks = []


def add_task_to_queue(id_job):
    pending_tasks[id_job] = time.time()


def start_task(id_task):
    global current_task
    current_task = id_task
    pending_tasks.pop(id_task, None)


def finish_task(id_task):
    global current_task
    if current_task == id_task:
        current_task = None
    finished_tasks.append(id_task)
