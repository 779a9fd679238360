"""The fitted pipeline as one ONNX graph, for onnxruntime: raw feature values in, the delay probability out, no
Spark and no JVM. Written beside the Spark model when ml/train.py saves it; `lakehouse export-onnx` writes it
for a model saved before.

The graph does what model_input() and the pipeline's stages do, stage by stage, from the fitted stages' own
parameters: nulls of the `when_null: 0` numerics become 0, the Imputer's medians fill the other nulls, each
StringIndexer label maps to its index and anything unseen to the extra index `handleInvalid='keep'` gives it
(onnxmltools' StringIndexer ignores handleInvalid, its issue 611, so this graph does not use it), the one-hot
slots follow OneHotEncoder's sizes, and the vector goes to the classifier's trees: XGBoost's through onnxmltools'
converter, as float32 (the type xgboost.spark predicts on); MLlib's GBT as a TreeEnsembleRegressor written here
from the fitted trees, in double (the type MLlib splits on: onnxmltools' sparkml converter writes float32
thresholds, which can send a value beside a split down the other branch).

Inputs: one [N, 1] tensor per feature, named as in flight_features: string for categoricals (null as
features.UNKNOWN_CATEGORY), double for numerics (null as NaN). Output: `delay_probability`, [N].
"""

import itertools
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from pyspark.ml import PipelineModel
from pyspark.ml.classification import GBTClassificationModel
from pyspark.ml.feature import ImputerModel, OneHotEncoderModel, StringIndexerModel, VectorAssembler

from lakehouse.errors import LakehouseError
from lakehouse.ml import model_store


class UnservableModel(LakehouseError):
    """A model the online export cannot write as ONNX: training refuses it before saving the version."""


# ai.onnx.ml 3: the tree ensembles take double thresholds and leaf values (the `_as_tensor` attributes).
OPSETS = [helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)]


def export(model: PipelineModel, roles: dict, path: Path) -> Path:
    """The pipeline model (its stages as ml/train.py builds them) as ONNX at `path`. `roles` is the metadata's
    feature_columns: the roles the model was trained with."""
    imputer, indexer, encoder, assembler, classifier = stages(model)
    nodes, initializers = [], []

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(value, name))
        return name

    numeric = roles["numeric"]
    medians = imputer.surrogateDF.first().asDict()
    nodes.append(helper.make_node("Concat", numeric, ["numeric_raw"], axis=1))
    zero_mask = np.array([[name in roles["zero_when_null"] for name in numeric]])
    nodes += [
        helper.make_node("IsNaN", ["numeric_raw"], ["numeric_null"]),
        helper.make_node("And", ["numeric_null", constant("zero_when_null", zero_mask)], ["numeric_zeroed_mask"]),
        helper.make_node(
            "Where", ["numeric_zeroed_mask", constant("zero", np.zeros(1)), "numeric_raw"], ["numeric_zeroed"]
        ),
        helper.make_node("IsNaN", ["numeric_zeroed"], ["numeric_missing"]),
        helper.make_node(
            "Where",
            [
                "numeric_missing",
                constant("medians", np.array([[medians[name] for name in imputer.getInputCols()]])),
                "numeric_zeroed",
            ],
            ["numeric_imputed"],
        ),
    ]
    one_hots = []
    for name, labels, size in zip(roles["categorical"], indexer.labelsArray, one_hot_sizes(encoder), strict=True):
        nodes += [
            helper.make_node(
                "LabelEncoder",
                [name],
                [f"{name}_index"],
                domain="ai.onnx.ml",
                keys_strings=list(labels),
                values_int64s=list(range(len(labels))),
                default_int64=len(labels),  # handleInvalid='keep': unseen values share the index after the labels
            ),
            helper.make_node(
                "Equal", [f"{name}_index", constant(f"{name}_slots", np.arange(size, dtype=np.int64))], [f"{name}_is"]
            ),
            helper.make_node("Cast", [f"{name}_is"], [f"{name}_one_hot"], to=TensorProto.DOUBLE),
        ]
        one_hots.append(f"{name}_one_hot")
    check_layout(assembler, roles)
    nodes.append(helper.make_node("Concat", ["numeric_imputed", *one_hots], ["features"], axis=1))
    width = len(numeric) + sum(one_hot_sizes(encoder))
    if isinstance(classifier, GBTClassificationModel):
        nodes += gbt_nodes(classifier, width)
        column = np.array(0, dtype=np.int64)  # the probability itself
    else:
        nodes += xgboost_nodes(classifier, width)
        column = np.array(1, dtype=np.int64)  # the delayed class's of the two
    nodes.append(
        helper.make_node(
            "Gather", ["probabilities", constant("delayed_column", column)], [model_store.ONNX_PROBABILITY], axis=1
        )
    )
    inputs = [helper.make_tensor_value_info(name, TensorProto.STRING, [None, 1]) for name in roles["categorical"]]
    inputs += [helper.make_tensor_value_info(name, TensorProto.DOUBLE, [None, 1]) for name in numeric]
    graph = helper.make_graph(
        nodes,
        "flight_delay",
        inputs,
        [helper.make_tensor_value_info(model_store.ONNX_PROBABILITY, TensorProto.FLOAT, [None])],
        initializer=initializers,
    )
    onnx_model = helper.make_model(graph, opset_imports=OPSETS, producer_name="lakehouse")
    onnx.checker.check_model(onnx_model, full_check=True)
    onnx.save(onnx_model, str(path))
    return path


def stages(model: PipelineModel) -> list:
    """The five stages ml/train.py's pipeline has, checked, so a change there fails here with a reason."""
    kinds = [ImputerModel, StringIndexerModel, OneHotEncoderModel, VectorAssembler]
    found = model.stages
    if len(found) != 5 or not all(isinstance(stage, kind) for stage, kind in zip(found, kinds, strict=False)):
        raise LakehouseError(
            f"the ONNX export knows ml/train.py's pipeline (Imputer, StringIndexer, OneHotEncoder, VectorAssembler,"
            f" classifier), not {[type(stage).__name__ for stage in found]}: update lakehouse/ml/onnx_export.py"
        )
    if found[1].getHandleInvalid() != "keep" or found[2].getHandleInvalid() != "keep":
        raise LakehouseError("the ONNX export expects handleInvalid='keep' on the StringIndexer and OneHotEncoder")
    return found


def one_hot_sizes(encoder: OneHotEncoderModel) -> list[int]:
    """Slots per categorical: OneHotEncoder's categories, plus the invalid one ('keep'), less the last (dropLast)."""
    return [size + 1 - int(encoder.getDropLast()) for size in encoder.categorySizes]


def check_layout(assembler: VectorAssembler, roles: dict) -> None:
    expected = roles["numeric"] + [f"{name}_is" for name in roles["categorical"]]
    if assembler.getInputCols() != expected:
        raise LakehouseError(
            f"the model's VectorAssembler reads {assembler.getInputCols()}, not the recorded roles' {expected}:"
            " the metadata and the pipeline disagree; retrain with `python ml/train.py`"
        )


def xgboost_nodes(classifier, width: int) -> list:
    """XGBoost's trees as a TreeEnsembleClassifier node reading `features` as float32, writing `probabilities`."""
    if not hasattr(classifier, "get_booster"):
        raise UnservableModel(
            f"the online export takes the trees of XGBoost and MLlib's GBT, not {type(classifier).__name__}'s:"
            " train with `python ml/train.py --estimator XGBoost` (or GBT) to serve the model"
        )
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    booster = classifier.get_booster()
    if booster.num_features() != width:
        raise LakehouseError(f"XGBoost's trees read {booster.num_features()} features, the preparation makes {width}")
    converted = onnxmltools.convert_xgboost(
        booster, initial_types=[("features_float", FloatTensorType([None, width]))], target_opset=15
    )
    (ensemble,) = [node for node in converted.graph.node if node.op_type == "TreeEnsembleClassifier"]
    del ensemble.output[:]
    ensemble.output.extend(["predicted_class", "probabilities"])
    return [helper.make_node("Cast", ["features"], ["features_float"], to=TensorProto.FLOAT), ensemble]


def gbt_nodes(classifier: GBTClassificationModel, width: int) -> list:
    """MLlib's GBT as a TreeEnsembleRegressor summing the weighted trees' leaves (the margin) from `features` in
    double, and the probability MLlib's log loss gives it, 1 / (1 + exp(-2 margin)), as `probabilities` [N, 1]."""
    if classifier.numFeatures != width:
        raise LakehouseError(f"the GBT's trees read {classifier.numFeatures} features, the preparation makes {width}")
    ensemble = {name: [] for name in ("tree", "node", "feature", "mode", "threshold", "true", "false")}
    leaves = {"tree": [], "node": [], "weight": []}
    for tree_id, (tree, weight) in enumerate(zip(classifier.trees, classifier.treeWeights, strict=True)):
        pending = [tree._java_obj.rootNode()]  # breadth first: a node's id is the order it is met in
        for node_id in itertools.count():
            if not pending:
                break
            node = pending.pop(0)
            ensemble["tree"].append(tree_id)
            ensemble["node"].append(node_id)
            if node.getClass().getSimpleName() == "LeafNode":
                ensemble["feature"].append(0)
                ensemble["mode"].append("LEAF")
                ensemble["threshold"].append(0.0)
                ensemble["true"].append(0)
                ensemble["false"].append(0)
                leaves["tree"].append(tree_id)
                leaves["node"].append(node_id)
                leaves["weight"].append(weight * node.prediction())
                continue
            split = node.split()
            threshold, left_at_or_below = branch(split)
            left, right = node_id + len(pending) + 1, node_id + len(pending) + 2  # after every node waiting
            ensemble["feature"].append(split.featureIndex())
            ensemble["mode"].append("BRANCH_LEQ")
            ensemble["threshold"].append(threshold)
            ensemble["true"].append(left if left_at_or_below else right)
            ensemble["false"].append(right if left_at_or_below else left)
            pending += [node.leftChild(), node.rightChild()]
    regressor = helper.make_node(
        "TreeEnsembleRegressor",
        ["features"],
        ["margin"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_treeids=ensemble["tree"],
        nodes_nodeids=ensemble["node"],
        nodes_featureids=ensemble["feature"],
        nodes_modes=ensemble["mode"],
        nodes_values_as_tensor=numpy_helper.from_array(np.array(ensemble["threshold"], dtype=np.float64)),
        nodes_truenodeids=ensemble["true"],
        nodes_falsenodeids=ensemble["false"],
        target_treeids=leaves["tree"],
        target_nodeids=leaves["node"],
        target_ids=[0] * len(leaves["tree"]),
        target_weights_as_tensor=numpy_helper.from_array(np.array(leaves["weight"], dtype=np.float64)),
    )
    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    return [
        regressor,
        helper.make_node("Constant", [], ["two"], value=two),
        helper.make_node("Mul", ["margin", "two"], ["twice_margin"]),
        helper.make_node("Sigmoid", ["twice_margin"], ["probabilities"]),
    ]


def branch(split) -> tuple[float, bool]:
    """An MLlib split as a threshold, and whether the values at or below it go left. A ContinuousSplit sends
    them left. The one-hot slots carry OneHotEncoder's binary attribute, so the trees split them as categorical
    features of two values, 0 and 1, sending one of them left: at or below 0.5 is 0."""
    if split.getClass().getSimpleName() == "ContinuousSplit":
        return split.threshold(), True
    left_values = list(split.leftCategories())
    if split.numCategories() != 2 or left_values not in ([0.0], [1.0]):
        raise UnservableModel(
            f"the GBT splits feature {split.featureIndex()} on {split.numCategories()} categories: the export"
            " writes the one-hot slots' splits (two categories) only"
        )
    return 0.5, left_values == [0.0]


def main(argv: list[str] | None = None) -> Path:
    """`lakehouse export-onnx [--model-version vN]`: the ONNX graph of a saved model (default: the newest)."""
    import argparse

    from lakehouse.spark import get_spark

    parser = argparse.ArgumentParser(prog="lakehouse export-onnx", description=main.__doc__.split(": ", 1)[1])
    parser.add_argument("--model-version", help="the saved model to export (v3; default: the newest)")
    args = parser.parse_args(argv)
    get_spark("export-onnx")
    model, metadata = model_store.load(args.model_version)
    version_dir = model_store.models_dir() / metadata["model_version"]
    path = export(model, metadata["feature_columns"], version_dir / model_store.ONNX_FILE)
    print(f"model {metadata['model_version']} exported to {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path
