import pytest


@pytest.fixture(autouse=True)
def _gradio_temp(tmp_path, monkeypatch):
    # Gradio copies uploads and outputs under GRADIO_TEMP_DIR: keep them in the test's tmp.
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
