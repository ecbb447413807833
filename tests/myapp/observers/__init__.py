# "keep all of your app observers in an observer directory. Then inside that dir's
# __init__.py import all of your observers."
from tests.myapp.observers.example import ExampleModelObserver

__all__ = ["ExampleModelObserver"]
