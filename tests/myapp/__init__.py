# The seed README's ritual: not needed with django_events, and still harmless.
default_app_config = "tests.myapp.apps.MyAppConfig"
