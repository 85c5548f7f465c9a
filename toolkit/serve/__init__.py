"""``noisesearch serve``: search as a service on LitServe. ``command`` (the command line and the LitServer), ``app``
(the HTTP side: keys, the jobs routes, events, metrics, the page), ``images`` (the OpenAI-compatible images route,
a LitAPI), ``requests`` (what a request may ask), ``jobs`` (durable jobs as run folders), ``worker`` (one inference
worker's long-lived engine loop); docs/serving.md draws them."""
