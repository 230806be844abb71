"""The Celery application both ends share: configured for passes that last hours.

- acks late + prefetch 1 + reject on worker loss: a message leaves the broker only when its pass
  is over, a worker holds at most the one it runs, and a pool process killed mid-pass puts it
  back at once;
- the Redis visibility timeout above the longest pass (else Redis redelivers a running pass);
- JSON only (a worker may run as root; Celery refuses pickle then) and no result backend (the
  server learns everything over HTTP; redis-py's result backend also warns under -W error);
- a long-running pass is never cancelled on a broker connection loss (a blip must not throw an
  hour of compiling away): the server's lease prevents the second run instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provision.builder.settings import FarmTuning
from provision.errors import ConfigError

if TYPE_CHECKING:
    from celery import Celery

TASK_NAME = "provision.farm.run_slot"
APP_NAME = "provision-farm"


def celery_config(broker: str, tuning: FarmTuning) -> dict[str, Any]:
    """Pure: the settings (tests compare them)."""
    return {
        "broker_url": broker,
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_transport_options": {
            "visibility_timeout": tuning.visibility_timeout,
            "socket_timeout": 30,
            "socket_connect_timeout": 10,
            "health_check_interval": 25,
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": "farm.default",
        "task_create_missing_queues": True,
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 1.0,
        },
        "worker_send_task_events": False,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
    }


def make_celery(broker: str, tuning: FarmTuning) -> Celery:
    try:
        from celery import Celery
    except ImportError as exc:
        raise ConfigError(
            "broker", "the build farm needs Celery: pip install 'provision[farm]'"
        ) from exc

    app = Celery(APP_NAME, set_as_current=False)
    app.conf.update(celery_config(broker, tuning))
    return app
