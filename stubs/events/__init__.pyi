# django-event-system 1.0.1 (top-level module `events`) ships no types; benchmarks/ measures it.
