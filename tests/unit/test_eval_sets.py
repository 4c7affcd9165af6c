"""The re-encode robustness view of the evaluation-only sets (ai_detector.pipeline.eval_sets).

Both classes must go through one and the same re-encode (long side, JPEG quality), from
the bytes, as an upload would: otherwise the re-encoded figure measures the treatment.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ai_detector.inference.metadata import ImageSpec
from ai_detector.inference.preprocess import preprocess_bytes
from ai_detector.pipeline.data.records import Record, sha256_file
from ai_detector.pipeline.eval_sets import largest_reencode_diff, reencode, resized_face, score_sets
from tests.conftest import TINY_INPUT, encode_image, repo_params, textured_image

SPEC = ImageSpec(**{k: v for k, v in TINY_INPUT.items() if k != "backbone"})


def _png(size: tuple[int, int], seed: int = 0, tint: str = "none") -> bytes:
    return encode_image(textured_image(size, seed=seed, tint=tint), "PNG")


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((320, 240), (1600, 1200)),  # enlarged
        ((240, 320), (1200, 1600)),  # portrait: the long side is the height
        ((2000, 1000), (1600, 800)),  # shrunk
        ((1600, 900), (1600, 900)),  # already there
    ],
)
def test_the_long_side_becomes_the_target_and_the_result_is_jpeg(size, expected):
    out = reencode(_png(size), 1600, 75)
    with Image.open(io.BytesIO(out)) as image:
        assert image.format == "JPEG"
        assert image.size == expected
        assert image.mode == "RGB"


def test_the_jpeg_has_the_quality_asked_for():
    data = _png((320, 240))
    for quality in (60, 75, 95):
        reference = io.BytesIO()
        Image.new("RGB", (64, 64)).save(reference, format="JPEG", quality=quality)
        with (
            Image.open(io.BytesIO(reencode(data, 400, quality))) as image,
            Image.open(reference) as expected,
        ):
            assert image.quantization == expected.quantization  # type: ignore[attr-defined]


def test_orientation_and_transparency_are_handled_as_an_upload_is():
    image = textured_image((200, 100), seed=3)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    with Image.open(io.BytesIO(reencode(buffer.getvalue(), 400, 75))) as upright:
        assert upright.size == (200, 400)
    rgba = Image.new("RGBA", (100, 50), (255, 0, 0, 0))  # fully transparent: white
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    with Image.open(io.BytesIO(reencode(buffer.getvalue(), 100, 95))) as flat:
        assert np.asarray(flat).min() > 240


def _record(path: Path, label: str, origin: str, split: str = "test") -> Record:
    return Record(str(path), label, "tiny", sha256_file(path), split, "", origin)


@pytest.fixture
def sets(tmp_path):
    """A fakes-only evaluation set, a faces set, a both-class set, a reals-only set, and
    test reals (one of which is the very same image as one of the fakes) and a test fake."""
    twin = _png((300, 200), seed=7, tint="red")
    folders = {
        "unseen": {"fake": [twin, _png((900, 600), 8, "red")]},
        "faces-set": {"fake": [_png((400, 400), 9, "red"), _png((300, 300), 10, "red")]},
        "mixed": {"fake": [_png((500, 300), 11, "red")], "real": [_png((500, 300), 12)]},
        "cameras": {"real": [_png((800, 600), 15), _png((600, 800), 16, "red")]},
    }
    sources = []
    for name, classes in folders.items():
        for cls, images in classes.items():
            (tmp_path / name / cls).mkdir(parents=True)
            for i, data in enumerate(images):
                (tmp_path / name / cls / f"{i}.png").write_bytes(data)
        mapping = {"fake": "AI-generated", "real": "Real"}
        sources.append(
            {
                "name": name,
                "layout": "folder",
                "path": str(tmp_path / name),
                "classes": {c: mapping[c] for c in classes},
            }
        )
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump({"sources": sources}))
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "twin.png").write_bytes(twin)
    (tmp_path / "test" / "face.png").write_bytes(_png((1024, 1024), 13))
    (tmp_path / "test" / "fake.png").write_bytes(_png((640, 480), 14, "red"))
    test = [
        _record(tmp_path / "test" / "twin.png", "Real", "photos"),
        _record(tmp_path / "test" / "face.png", "Real", "ffhq"),
        _record(tmp_path / "test" / "fake.png", "AI-generated", "gen"),
    ]
    params = repo_params(
        "generalise",
        eval_sources=str(tmp_path / "eval.yaml"),
        faces_source="faces-set",
        face_reals="ffhq",
        reencode_long_side=1200,
        reencode_quality=70,
    )
    return params, test, tmp_path


def test_both_classes_are_re_encoded_alike_and_scored_from_those_bytes(sets):
    params, test, root = sets
    seen: dict[str, dict[str, np.ndarray]] = {}

    def scorer(records, tag, image_bytes):
        arrays = [preprocess_bytes((image_bytes or Record.read_bytes)(r), SPEC) for r in records]
        for record, array in zip(records, arrays, strict=True):
            seen.setdefault(tag, {})[f"{record.label}:{record.path}"] = array
        return np.array([float(a[0].mean() - a[1].mean()) for a in arrays])  # redness

    results = score_sets(scorer, params, test, threshold=0.0)
    again = "reencode-1200-q70"
    # Every image on both sides of the re-encoded figures: from reencode()'s bytes.
    scored = sorted(seen[again])
    fakes = [p for name in ("unseen", "faces-set", "mixed") for p in root.glob(f"{name}/fake/*")]
    fakes.append(root / "test" / "fake.png")  # the reals-only set's partner
    reals = [
        root / "mixed" / "real" / "0.png",
        *(root / "cameras" / "real" / n for n in ("0.png", "1.png")),
        *(root / "test" / n for n in ("twin.png", "face.png")),
    ]
    assert scored == sorted([f"AI-generated:{p}" for p in fakes] + [f"Real:{p}" for p in reals])
    for key, array in seen[again].items():
        path = Path(key.split(":", 1)[1])
        expected = preprocess_bytes(reencode(path.read_bytes(), 1200, 70), SPEC)
        assert np.array_equal(array, expected), key
    twin_real = seen[again][f"Real:{root / 'test' / 'twin.png'}"]
    twin_fake = seen[again][f"AI-generated:{root / 'unseen' / 'fake' / '0.png'}"]
    assert np.array_equal(twin_real, twin_fake)  # same image, either label: same input
    # The real faces: resized into the fakes' size range as for the clean figure, then
    # re-encoded as the fake faces are.
    faces = seen[f"faces-250-480-{again}"]
    face = test[1]
    expected = preprocess_bytes(reencode(resized_face(face, 250, 480), 1200, 70), SPEC)
    assert list(faces) == [f"Real:{face.path}"]
    assert np.array_equal(faces[f"Real:{face.path}"], expected)
    # The test split's fake is a partner of the reals-only set alone.
    cameras = results["cameras"]
    assert cameras["against"] == "test fakes" and cameras["n_against"] == 1
    unseen = results["unseen"]
    assert unseen["against"] == "test reals" and unseen["n_against"] == 2
    assert results["faces-set"]["against"] == "ffhq test faces"
    assert results["mixed"]["against"] == "its own reals" and results["mixed"]["n_against"] == 0
    for name, entry in results.items():
        for key in ("roc_auc", "roc_auc_reencoded"):
            assert entry[key] is not None
        has_fakes, has_reals = name != "cameras", name in ("mixed", "cameras")
        for view in ("", "_reencoded"):
            assert (entry[f"fake_recall{view}"] is not None) == has_fakes, name
            assert (entry[f"false_positive_rate{view}"] is not None) == has_reals, name
        assert entry["reencode_diff"] == pytest.approx(
            entry["roc_auc_reencoded"] - entry["roc_auc"]
        )


def test_reals_called_not_real_at_the_threshold_are_the_false_positive_rate(sets):
    params, test, root = sets
    given = {
        root / "cameras" / "real" / "0.png": 0.9,  # a camera photo called AI: a false positive
        root / "cameras" / "real" / "1.png": 0.1,
        root / "test" / "fake.png": 0.5,
        root / "mixed" / "real" / "0.png": 0.2,
        root / "mixed" / "fake" / "0.png": 0.8,
    }

    def scorer(records, tag, image_bytes):
        return np.array([given.get(Path(r.path), 0.7) for r in records])

    results = score_sets(scorer, params, test, threshold=0.6)
    cameras, mixed = results["cameras"], results["mixed"]
    assert cameras["false_positive_rate"] == pytest.approx(0.5)
    assert cameras["roc_auc"] == pytest.approx(0.5)  # the fake ranks above one of two reals
    assert cameras["fake_recall"] is None
    assert mixed["false_positive_rate"] == 0.0 and mixed["fake_recall"] == 1.0
    assert mixed["roc_auc"] == 1.0
    assert results["unseen"]["false_positive_rate"] is None


def test_the_headline_is_the_largest_absolute_difference():
    sets = {
        "a": {"reencode_diff": 0.01},
        "b": {"reencode_diff": -0.07},
        "c": {"reencode_diff": None},
    }
    assert largest_reencode_diff(sets) == pytest.approx(0.07)
    assert largest_reencode_diff({"c": {"reencode_diff": None}}) is None
    assert largest_reencode_diff({}) is None


def test_no_evaluation_sets_no_figures():
    params = repo_params("generalise", eval_sources="")
    assert score_sets(lambda *_: np.zeros(0), params, [], 0.5) == {}
