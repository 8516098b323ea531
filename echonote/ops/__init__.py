"""Running the stack: ``stack`` starts and stops every role as a process, ``monitor`` asks the broker,
workers, beat's lock and Flower what is going on, ``waiting`` is the one polling loop (``wait_until``),
``demo`` is `make demo`. Light: no task code."""
