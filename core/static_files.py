"""WhiteNoise's middleware, able to run in the async request path.

WhiteNoise's own middleware is sync only: under ASGI, Django then runs it, and every middleware
before it, in a thread, and the rest of the request back on the event loop, for every request,
an API call as much as a static file. Here a path that cannot be a static file goes straight on;
only a static file is looked up (on disk, when WhiteNoise refreshes in DEBUG) and served from a
thread, as before.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, **kwargs) -> None:
        super().__init__(get_response, **kwargs)
        # Where WhiteNoise may find a file (the static URL, WHITENOISE_ROOT's "/" if set).
        self.prefixes = tuple({self.static_prefix, *(prefix for _, prefix in self.directories)})
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    def _serve_if_static(self, request):
        static_file = self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)
        return self.serve(static_file, request) if static_file is not None else None

    async def _acall(self, request):
        if request.path_info.startswith(self.prefixes):
            response = await sync_to_async(self._serve_if_static)(request)
            if response is not None:
                return response
        return await self.get_response(request)
