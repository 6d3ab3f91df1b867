import os

from core.http import per_process, shared_http_client


def test_one_client_per_process_is_reused():
    assert shared_http_client() is shared_http_client()


def test_a_forked_child_builds_its_own():
    builds = []
    get = per_process(lambda: builds.append(os.getpid()) or object())
    parent_object = get()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report whether it built a new object
        os.write(write_end, b"new" if get() is not parent_object and len(builds) == 2 else b"old")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read_end, 3) == b"new"
    assert get() is parent_object and builds == [os.getpid()]
