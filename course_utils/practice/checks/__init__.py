"""Exercise checkers, one small module per notebook (``nb01`` for 01_tensors, ``nb03a`` for 03a_nn_module ...).

Each ``check_<exercise>(candidate, trials=..., seed=None)`` runs the learner's function or class on fresh
random cases next to a reference and returns a ``course_utils.practice.grading.CheckResult`` whose message
names the input, the expected and obtained values and a hint. Checkers are registered in
``course_utils.practice.grading`` (``check("01.broadcast_shape", fn)``, ``exercises_of("01")``).
"""
