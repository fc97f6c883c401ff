"""The grey head (train.grey_head): the file reads a grey frame with its correction and a colour
frame exactly as before, retraining finds the colour head behind it and keeps it, and the
numbers retrain computes from features are the file's."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.tiny_model import PROTOTYPES, build_tiny_model, solid_image, tiny_metadata
from tests.train.cut_rows import cut_rows
from train.grey_head import (
    CLOSE_UP_SIZE,
    GreyDelta,
    GreyFit,
    add_grey_head,
    close_up_view,
    drop_grey_head,
    fit_delta,
    grey_rows,
    head_logits,
    read_grey_head,
)
from train.head import Head, read_head, replace_head, with_features
from train.manifest import Sample
from train.tail import with_outputs
from vision.classifier import session_options
from vision.errors import ModelError
from vision.preprocess import preprocess
from vision.taxonomy import load_profile

SPEC = tiny_metadata().preprocess
THRESHOLD = 2.0 / (0.5 * 255.0)


def _run(model: onnx.ModelProto, images: list[np.ndarray], *names: str) -> list[np.ndarray]:
    session = ort.InferenceSession(
        model.SerializeToString(), session_options(1), providers=["CPUExecutionProvider"]
    )
    wanted = [session.get_outputs()[0].name, *names]
    found: list[np.ndarray] = session.run(wanted, {"image": preprocess(images, SPEC)})
    return found


def _delta(model: onnx.ModelProto, seed: int = 0) -> GreyDelta:
    head = read_head(model)
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 5, head.weight.shape).astype(np.float32)
    return GreyDelta(weight, rng.normal(0, 5, len(head.bias)).astype(np.float32), THRESHOLD)


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    grey = np.repeat(colour[:, :, :1], 3, axis=2)
    # a grey frame as a camera stores it, a three-channel JPEG: its channels may differ by a level
    _, jpeg = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 80])
    stored = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), np.uint8)
    # a dull photo with a little colour left (a spread of 6 levels) is a colour frame
    dull = grey.copy()
    dull[:, :, 2] = np.clip(dull[:, :, 2].astype(int) + 6, 0, 255).astype(np.uint8)
    return [colour, grey, stored, dull]


def test_only_grey_frames_get_the_correction() -> None:
    plain = build_tiny_model()
    model = add_grey_head(plain, _delta(plain))
    images = _images()
    probe = with_outputs(with_features(model), ["grey.flag"])
    before = _run(plain, images)[0]
    after, features, flag = _run(probe, images, read_head(model).features, "grey.flag")
    assert flag.ravel().tolist() == [0.0, 1.0, 1.0, 0.0]
    assert grey_rows(preprocess(images, SPEC), THRESHOLD).tolist() == [False, True, True, False]
    assert np.array_equal(after[[0, 3]], before[[0, 3]])  # colour: the very same numbers
    assert not np.allclose(after[1:3], before[1:3], atol=1.0)
    # what retrain computes from the features and the flags is what the file outputs
    head, delta = read_head(model), read_grey_head(model)
    assert delta is not None and delta.threshold == pytest.approx(THRESHOLD)
    expected = head_logits(features, head.weight, head.bias, delta, flag)
    assert after == pytest.approx(expected, abs=1e-4)


def test_the_correction_is_replaced_dropped_and_kept_by_a_new_head() -> None:
    plain = build_tiny_model()
    once = add_grey_head(plain, _delta(plain, 0))
    twice = add_grey_head(once, _delta(plain, 1))  # replaced, not stacked
    assert len(twice.graph.node) == len(once.graph.node)
    twice_delta = read_grey_head(twice)
    assert twice_delta is not None
    assert np.array_equal(twice_delta.weight, _delta(plain, 1).weight)
    dropped = drop_grey_head(twice)
    assert read_grey_head(dropped) is None
    assert len(dropped.graph.node) == len(plain.graph.node)
    assert {i.name for i in dropped.graph.initializer} == {i.name for i in plain.graph.initializer}
    images = _images()
    assert np.array_equal(_run(dropped, images)[0], _run(plain, images)[0])
    # retraining replaces the colour head behind the correction and keeps the correction
    head = read_head(twice)
    assert np.array_equal(head.weight, read_head(plain).weight)
    new_w, new_b = head.weight * 0.5, head.bias + 1.0
    retrained = replace_head(twice, new_w, new_b)
    probe = with_outputs(with_features(retrained), ["grey.flag"])
    out, features, flag = _run(probe, images, head.features, "grey.flag")
    expected = head_logits(features, new_w, new_b, twice_delta, flag)
    assert out == pytest.approx(expected, abs=1e-4)
    assert np.array_equal(read_head(retrained).weight, new_w)


def test_a_model_normalising_channels_apart_gets_no_grey_head() -> None:
    from train.grey_head import _spread_threshold

    spec = SPEC.model_copy(update={"mean": (0.485, 0.456, 0.406)})
    with pytest.raises(ModelError, match="one mean and std for all channels"):
        _spread_threshold(tiny_metadata().model_copy(update={"preprocess": spec}))
    assert _spread_threshold(tiny_metadata()) == pytest.approx(THRESHOLD)


def test_the_delta_learns_what_grey_asks_and_no_more() -> None:
    """Grey views whose label lies along a direction the colour head ignores: the delta finds
    it; pulled hard, it stays near zero."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = rng.normal(0, 1, (600, 6)).astype(np.float32)
    x[:, 3:] += 3.0 * np.eye(3, dtype=np.float32)[y]  # grey's evidence: dims 3-5
    head = Head("f", np.zeros((3, 6), np.float32), np.zeros(3, np.float32))
    dw, db = fit_delta(x, y.astype(np.int64), head, pull=1e-3, steps=300)
    accuracy = ((x @ dw.T + db).argmax(1) == y).mean()
    assert accuracy > 0.9
    assert np.abs(dw[:, :3]).max() < np.abs(dw[:, 3:]).max() / 3
    stiff, _ = fit_delta(x, y.astype(np.int64), head, pull=100.0, steps=300)
    assert np.abs(stiff).max() < 0.05 * np.abs(dw).max()


def test_retrain_scores_a_grey_photo_from_features_as_the_file_reads_it(tmp_path: Path) -> None:
    """The gate's base test numbers come from cached features and the head; for a model with a
    grey head they are the file's own, grey photos included."""
    from train.gate import compare

    plain = build_tiny_model()
    model = add_grey_head(plain, _delta(plain, 3))
    path = tmp_path / "grey.onnx"
    onnx.save(model, str(path))
    profile = load_profile()
    samples, images = [], []
    for n, label in enumerate(PROTOTYPES):
        image = solid_image(label)
        if n % 2:  # every other photo grey, as a night camera or a grey source photo gives it
            image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        file = tmp_path / f"{label}.png"
        cv2.imwrite(str(file), image)
        images.append(image)
        samples.append(Sample(file, "test", profile.category_of(label), label, "t", label, "m"))
    features = _run(with_features(model), images, read_head(model).features)[1]
    direct = compare(path, samples, [])["base_test"]
    cached = compare(path, samples, [], features)["base_test"]
    assert direct["log_loss"] == pytest.approx(cached["log_loss"], abs=1e-4)
    assert direct["category_accuracy"] == cached["category_accuracy"]
    # the colour head alone on the same features reads the grey photos otherwise
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    colour_only = compare(tmp_path / "plain.onnx", samples, [], features)["base_test"]
    assert colour_only["log_loss"] != pytest.approx(direct["log_loss"], abs=1e-3)


def _fit_data() -> tuple[np.ndarray, np.ndarray, GreyDelta]:
    """Features whose label lies in dims 0-2, and a grey correction that pushes every row
    towards class 0 by 4 logits."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 400)
    x = rng.normal(0, 1, (400, 6)).astype(np.float32)
    x[:, :3] += 2.0 * np.eye(3, dtype=np.float32)[y]
    delta = GreyDelta(np.zeros((3, 6), np.float32), np.array([4.0, 0, 0], np.float32), THRESHOLD)
    return x, y, delta


def test_a_retrained_head_fits_grey_rows_under_the_correction() -> None:
    """`binwatch retrain` fits the colour head with the grey correction added on the grey rows:
    the head learns what the file's output still needs there, not the correction twice."""
    from train.retrain import RetrainOptions, train_head

    x, y, delta = _fit_data()
    start = (np.zeros((3, 6), np.float32), np.zeros(3, np.float32))
    weights, options = np.ones(len(y)), RetrainOptions(steps=300, lr=0.05, anchor=0.0)
    grey = np.ones(len(y), np.float32)
    bare_w, bare_b = train_head(x, y, weights, start, options)
    w, b = train_head(x, y, weights, start, options, delta, grey)
    # under the correction the head takes the bias back: the file's grey logits fit the labels
    assert b[0] - b[1:].mean() < bare_b[0] - bare_b[1:].mean() - 2.0
    fitted = head_logits(x, w, b, delta, grey).argmax(1)
    doubled = head_logits(x, bare_w, bare_b, delta, grey).argmax(1)
    assert (fitted == y).mean() > (doubled == y).mean() + 0.2
    # rows not flagged train as before
    same_w, same_b = train_head(x, y, weights, start, options, delta, np.zeros(len(y), np.float32))
    assert np.allclose(same_w, bare_w, atol=1e-5) and np.allclose(same_b, bare_b, atol=1e-5)


def test_grey_rows_apart_train_the_correction_not_the_colour_head() -> None:
    """`grey_apart`: the grey rows train the correction (GreyFit) and leave the colour head as it
    was; rows not flagged train the colour head exactly as without it."""
    from train.retrain import RetrainOptions, train_head

    x, y, delta = _fit_data()
    start = (np.zeros((3, 6), np.float32), np.zeros(3, np.float32))
    weights, options = np.ones(len(y)), RetrainOptions(steps=300, lr=0.05, anchor=0.0)
    apart = GreyFit(delta)
    w, b = train_head(x, y, weights, start, options, delta, np.ones(len(y), np.float32), None,
                      apart)  # fmt: skip
    assert np.array_equal(w, start[0]) and np.array_equal(b, start[1])
    fitted = apart.fitted()
    assert fitted.threshold == delta.threshold and not np.allclose(fitted.weight, delta.weight)
    # the file's grey reading (start head + fitted correction) fits the labels, the start's not
    assert (head_logits(x, w, b, fitted, 1.0).argmax(1) == y).mean() > 0.8
    assert (head_logits(x, w, b, delta, 1.0).argmax(1) == y).mean() < 0.5
    # no row flagged: the colour head trains as without it, the correction stays
    none = GreyFit(delta)
    bare_w, bare_b = train_head(x, y, weights, start, options)
    same_w, same_b = train_head(x, y, weights, start, options, delta, np.zeros(len(y), np.float32),
                                None, none)  # fmt: skip
    assert np.allclose(same_w, bare_w, atol=1e-5) and np.allclose(same_b, bare_b, atol=1e-5)
    assert np.array_equal(none.fitted().weight, delta.weight)
    assert np.array_equal(none.fitted().bias, delta.bias)
    with pytest.raises(ValueError, match="grey flag"):
        train_head(x, y, weights, start, options, delta, None, None, GreyFit(delta))
    with pytest.raises(ValueError, match="grey_in_fit 1"):
        RetrainOptions(grey_apart=1, grey_in_fit=0)


def test_tuned_blocks_fit_grey_rows_under_the_correction(weights_model: Path) -> None:
    """The tail's fit (train.tail_fit) adds the correction on the rows marked grey, as the head's
    does; with no row marked it trains as before."""
    from train.tail import TailModule, cut_for
    from train.tail_fit import TailOptions, tail_features, train_tail

    model = drop_grey_head(onnx.load(str(weights_model)))
    cut, head = cut_for(model, 1), read_head(model)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(24)]
    x = cut_rows(model, cut, images)
    y = rng.integers(0, len(head.bias), len(images))
    delta = GreyDelta(np.zeros_like(head.weight), np.zeros_like(head.bias), THRESHOLD)
    delta.bias[0] = 6.0
    options = TailOptions(steps=40, batch=12, lr=5e-2, tail_lr=1e-4, anchor=0.0,
                          tail_anchor=0.0, label_smoothing=0.0, seed=0)  # fmt: skip
    results, losses = {}, {}
    for name, flags in (("bare", None), ("none", np.zeros(len(y))), ("grey", np.ones(len(y)))):
        tail = TailModule(model, cut)
        w, b = train_tail(tail, (head.weight, head.bias), x, y, np.ones(len(y)), options, delta,
                          flags)  # fmt: skip
        logits = head_logits(tail_features(tail, x), w, b, delta, 1.0)  # as the file reads grey
        shifted = logits - logits.max(1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
        results[name], losses[name] = b, -log_p[np.arange(len(y)), y].mean()
    assert np.allclose(results["none"], results["bare"], atol=1e-5)
    # fitted under the correction, the file's grey reading fits the labels; fitted bare, the
    # correction comes on top of a head that already fits them
    assert losses["grey"] < 0.5 * losses["bare"]
    # grey rows apart (GreyFit): they train the correction and the blocks, not the colour head
    apart, tail = GreyFit(delta), TailModule(model, cut)
    w, b = train_tail(tail, (head.weight, head.bias), x, y, np.ones(len(y)), options, delta,
                      np.ones(len(y)), None, apart)  # fmt: skip
    assert np.array_equal(w, head.weight) and np.array_equal(b, head.bias)
    assert not np.allclose(apart.fitted().bias, delta.bias)


def test_a_reviewed_grey_frame_keeps_its_augmented_views_grey() -> None:
    """A night site's reviewed frame is grey and so is every frame the site sends: its augmented
    views (colour casts, per-channel noise) are made grey again; a colour photo's are untouched."""
    from train.views import field_augmenter, stays_grey

    metadata = tiny_metadata()
    colour, grey, stored, _ = _images()
    colour, grey, stored = (cv2.resize(i, (96, 96)) for i in (colour, grey, stored))
    keep = stays_grey(field_augmenter(3), metadata, THRESHOLD)
    plain = field_augmenter(3)
    views = [keep(image) for image in (grey, stored) * 8]
    assert grey_rows(preprocess(views, SPEC), THRESHOLD).all()
    bare = [plain(image) for image in (grey, stored) * 8]
    assert not grey_rows(preprocess(bare, SPEC), THRESHOLD).all()  # what it guards against
    assert np.array_equal(stays_grey(field_augmenter(5), metadata, THRESHOLD)(colour),
                          field_augmenter(5)(colour))  # fmt: skip


def test_retrain_counts_the_reviews_read_as_grey_frames(tmp_path: Path) -> None:
    """The share of the reviews the file reads as grey frames (written as a camera stores them),
    which retrain reports (a night/IR site's are all grey); a model without a grey head reads
    none as grey."""
    from train.retrain import grey_share_of

    plain = build_tiny_model()
    model = add_grey_head(plain, _delta(plain))
    colour, grey, stored, dull = _images()
    samples = []
    for n, image in enumerate([colour, grey, stored, dull, grey, stored]):
        path = tmp_path / f"{n}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        samples.append(Sample(path, "train", None, "x", "review", f"e{n}", "reviewed"))
    metadata = tiny_metadata()
    assert grey_share_of(model, metadata, samples) == pytest.approx(4 / 6)
    assert grey_share_of(model, metadata, samples[:1] + samples[3:4]) == 0.0
    assert grey_share_of(plain, metadata, samples) == 0.0
    assert grey_share_of(model, metadata, []) == 0.0


def test_a_close_up_view_is_a_grey_square_round_a_small_item() -> None:
    """`close_up_view` gives what the classifier reads of a small item at night: a grey square
    a little wider than the item (its side `CLOSE_UP_SIZE` of the frame's, `fill` 0.7 of the
    square's), the same for the same draw."""
    rng = np.random.default_rng(2)
    item = rng.integers(0, 256, (200, 160, 3), dtype=np.uint8)
    sides = []
    for seed in range(12):
        view = close_up_view(item, np.random.default_rng(seed))
        assert view.shape[0] == view.shape[1]
        assert grey_rows(preprocess([view], SPEC), THRESHOLD).all()
        sides.append(view.shape[0])
        again = close_up_view(item, np.random.default_rng(seed))
        assert np.array_equal(view, again)
    low, high = (200 * share / 0.7 for share in CLOSE_UP_SIZE)
    assert all(low - 2 <= side <= high + 2 for side in sides), sides
    assert max(sides) - min(sides) > 20  # the item's size is drawn, not fixed


def test_the_command_refuses_a_negative_count_of_views(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A negative `--close-up-views` (or no grey views at all) is refused before any model is
    read."""
    from train import grey_head

    for bad in (["--close-up-views", "-1"], ["--views", "0"]):
        argv = ["grey_head", "--model", "missing.onnx", "--out", "out.onnx", "--version", "v",
                "--manifest", "missing.csv", *bad]  # fmt: skip
        monkeypatch.setattr("sys.argv", argv)
        with pytest.raises(SystemExit) as exit_info:
            grey_head.main()
        assert exit_info.value.code == 2
        assert "--close-up-views 0 or more" in capsys.readouterr().err
