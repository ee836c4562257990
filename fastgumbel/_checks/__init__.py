"""Argument validation shared by the public functions, the Dask path and the bridges.

Every check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad
value) with a message that names the argument and repeats the value it was given. One
package, one place for every check and limit; its modules only split it by topic.
"""
from ._base import *  # noqa: F401,F403
from ._base import _NORMAL_RANGE  # noqa: F401
from ._conditional import *  # noqa: F401,F403
from ._params import *  # noqa: F401,F403
from ._sampling import *  # noqa: F401,F403
