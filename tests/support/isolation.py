"""Code for subprocesses that must not be able to import this package (export portability tests)."""

BLOCK_PACKAGE = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('sketch_rnn', 'wae_style', 'common', 'scripts', 'tests'):
            raise ModuleNotFoundError('blocked: ' + name)
        return None
sys.meta_path.insert(0, _Block())
try:
    import sketch_rnn  # noqa
    raise SystemExit('package importable')
except ModuleNotFoundError:
    pass
"""
