"""The build farm: profile passes run on worker machines through Celery with a Redis broker.

Server side (in `provision serve --broker URL`): `dispatch` turns each pass of the builder into
slots (one per required worker), publishes them as Celery tasks (a queue per profile, a queue per
worker), leases each slot to one worker at a time with a fencing token and a heartbeat, and
republishes what a dead worker or a restarted broker lost; `uploads` takes the results in
checksummed chunks that resume; `accept` checks an upload (index <-> files), `kofn` decides
whether enough independent workers agree, `finish` signs the packages with Portage's gpkg-sign
and makes the system image; the builder then publishes through its one atomic path.

Worker side (`provision worker`): `worker` (the Celery task and the worker process), `client`
(HTTP to the server), `buildproc` (the build itself, in a process the task can kill).

`model` is pure (names, states, routing, the upload manifest); `store` is the server's SQLite.
Keys never leave the server: workers build unsigned and can never publish.
"""
