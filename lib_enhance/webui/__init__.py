"""Everything that touches A1111/Forge or gradio: the host adapter (`host_adapter`), the script's
callbacks (`controller`), the accordion (`accordion`), the Settings page (`settings`), the HTTP
routes (`api`, `batch_routes`), the Folder batch buttons (`folder_batch`), the server as a
worker of the Redis queue (`queue_worker`), the detection preview (`preview`) and the checkpoint
file check (`checkpoint_files`).

The only package that may import `modules` or `gradio`; nothing below imports it.
See docs/ARCHITECTURE.md.
"""
