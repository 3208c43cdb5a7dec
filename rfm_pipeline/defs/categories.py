"""Group categories: product categories from descriptions and prices; customer interest groups."""

import dagster as dg
import ibis.expr.types as ir
import pandas as pd
from pydantic import Field

from rfm_pipeline.core import categories
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.plots import keyword_chart, silhouette_by_k
from rfm_pipeline.defs.metadata import image_metadata, plain, skipped, table_metadata
from rfm_pipeline.defs.resources import Warehouse

NO_DESCRIPTIONS = "input has no product descriptions"


def skipped_table(empty: pd.DataFrame, reason: object) -> dg.Output[pd.DataFrame]:
    """An empty table that says why (in `attrs`, for the assets that skip in turn, and in
    metadata, for people)."""
    said = skipped(reason)
    empty.attrs |= said
    return dg.Output(empty, metadata=plain({**said, "dagster/row_count": 0}))


class ProductCategoriesConfig(dg.Config):
    """The reference's recipe: keywords used by 13+ products, price bands, KMeans k = 3..10."""

    min_count: int = Field(
        default=13,
        description="Products that must share a description keyword (its stem) for it to be used."
        " 13, the study's threshold: 236 of 1,591 stems kept on the bundled data.",
    )
    k_min: int = Field(
        default=3,
        description="Fewest product categories KMeans tries. 3 to 10 (with k_max) is the study's"
        " range.",
    )
    k_max: int = Field(
        default=10,
        description="Most product categories KMeans tries. 10, the top of the study's range.",
    )
    tolerance: float = Field(
        default=0.005,
        description="Silhouette margin: the smallest k whose silhouette is within this of the best"
        " is chosen (fewer categories, same quality). 0.005 keeps the study's 5 categories on the"
        " bundled data.",
    )
    random_state: int = Field(
        default=42,
        description="Seed of KMeans, fixed so the same products always give the same categories.",
    )


@dg.asset(group_name="categories", kinds={"engine", "sklearn"}, code_version="1")
def product_categories(
    config: ProductCategoriesConfig, warehouse: Warehouse, clean_transactions: ir.Table
) -> dg.Output[pd.DataFrame]:
    """One row per stock code: description, mean price, category id and name. Categories come
    from description keywords (stemmed, stop words and colours removed) and price bands.
    """
    products = categories.products(clean_transactions)
    empty = products.assign(category_id=pd.Series(dtype="int64"), category_name="").iloc[:0]
    if products["description"].isna().all():
        return skipped_table(empty, NO_DESCRIPTIONS)
    settings = {
        "ks": list(range(config.k_min, config.k_max + 1)),
        "min_count": config.min_count,
        "tolerance": config.tolerance,
        "random_state": config.random_state,
    }
    try:
        result = categories.categorise(products, **settings)
    except NotEnoughData as reason:
        return skipped_table(empty, reason)
    table = result.table
    table.attrs["settings"] = settings  # what refits before a cut-off categorise with
    chosen = result.sweep[result.sweep["chosen"]].iloc[0]
    names = categories.names_by_id(table)
    sizes = table.groupby(["category_id", "category_name"]).size().rename("products").reset_index()
    samples = table.groupby("category_id").head(3)[["category_id", "stock_code", "description"]]
    return dg.Output(
        table,
        metadata=plain(
            {
                "dagster/row_count": len(table),
                "settings": dg.MetadataValue.json(settings),
                "keywords_kept": len(result.keywords.stems),
                "keyword_candidates": result.keywords.candidates,
                "k": int(chosen["k"]),
                "silhouette": round(float(chosen["silhouette"]), 3),
                "sweep": table_metadata(result.sweep.round(3)),
                "categories": table_metadata(sizes),
                "sample_products": table_metadata(samples),
                "top_keywords": image_metadata(
                    keyword_chart(result.top_keywords, names, "Top keywords per category"),
                    warehouse,
                    "product_categories_keywords",
                ),
                "silhouette_by_k": image_metadata(
                    silhouette_by_k(result.sweep.assign(algorithm="kmeans"), "Product categories"),
                    warehouse,
                    "product_categories_silhouette",
                ),
            }
        ),
    )
