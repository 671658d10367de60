"""Authentication backends for the test settings only."""

from axes.backends import AxesStandaloneBackend


class RequestlessLoginAxesBackend(AxesStandaloneBackend):
    """django-axes, except for `authenticate()` calls without a request.

    The test client's `login()` authenticates without a request, which AxesStandaloneBackend
    refuses outright; every real login (the admin's) has one and is guarded as in production.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None  # the next backend decides
        return super().authenticate(request, username, password, **kwargs)
