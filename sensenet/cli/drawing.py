"""Copies of images with a detector's boxes and labels drawn on them (Pillow).

Where the copies go is checked for every image before anything is detected:
a copy never replaces an existing file without --force, and never lands on
an original image, whatever links lead there (that would replace it), so
writing into a source directory needs a --draw-suffix. Copies are written as
every file is (`sensenet.files.writing`): complete or not at all, a link at
the destination replaced (with --force), never written through.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from sensenet.cli.output import FORCE
from sensenet.exceptions import InputDataError, OutputPathError
from sensenet.files.writing import check_destination, new_file
from sensenet.inputs.image import load_image

BOX_COLOR = (255, 48, 48)
TEXT_COLOR = (255, 255, 255)


def drawing_paths(images: Sequence[str], directory: str, suffix: str, force: bool) -> list[str]:
    """Where each image's drawn copy goes: `directory`/NAME`suffix`.EXT, checked up front."""
    if not os.path.isdir(directory):
        raise OutputPathError(f"--draw {directory}: no such directory; create it first")
    targets: dict[str, str] = {}
    for image in images:
        stem, extension = os.path.splitext(os.path.basename(image))
        target = os.path.join(directory, f"{stem}{suffix}{extension}")
        lands_on = os.path.join(os.path.realpath(directory), os.path.basename(target))
        same_file = os.path.exists(target) and os.path.exists(image) and os.path.samefile(target, image)
        if lands_on == os.path.realpath(image) or same_file:
            raise OutputPathError(
                f"--draw {directory} is the directory of {image}: its copy would replace the original; "
                "choose another directory or add --draw-suffix"
            )
        if target in targets:
            raise InputDataError(
                f"{targets[target]} and {image} would both be drawn to {target}; draw them in separate runs"
            )
        check_destination(target, force, how_to_overwrite=FORCE)
        targets[target] = image
    return list(targets)


def draw_objects(image_path: str, objects: Sequence[dict], target: str, force: bool) -> None:
    """Save a copy of the image with each object's box and "label score" drawn on it."""
    from PIL import Image, ImageDraw

    # Decoded as the detector decoded it (read caps, pixel budget, EXIF orientation ignored):
    # the boxes are in the pixels the model saw.
    image = Image.fromarray(load_image(image_path))
    draw = ImageDraw.Draw(image)
    line = max(1, round(min(image.size) / 200))
    for found in objects:
        x1, y1, x2, y2 = found["box"]
        draw.rectangle((x1, y1, x2, y2), outline=BOX_COLOR, width=line)
        text = f"{found['label']} {found['score']:.2f}"
        left, top, right, bottom = draw.textbbox((x1, y1), text)
        height = bottom - top
        label_top = y1 - height - 2 * line if y1 - height - 2 * line >= 0 else y2
        draw.rectangle(
            (x1, label_top, x1 + (right - left) + 2 * line, label_top + height + 2 * line), fill=BOX_COLOR
        )
        draw.text((x1 + line, label_top + line - (top - y1)), text, fill=TEXT_COLOR)
    image_format = Image.registered_extensions().get(os.path.splitext(target)[1].lower(), "PNG")
    with new_file(target, force, binary=True) as stream:
        image.save(stream, format=image_format)


def draw_all(
    images: Sequence[str], found: Sequence[tuple[int, list]], targets: Sequence[str], force: bool
) -> None:
    """Every drawn copy, or none: the copies made so far are removed if one fails."""
    made: list[str] = []
    try:
        for number, objects in found:
            draw_objects(images[number], objects, targets[number], force)
            made.append(targets[number])
    except BaseException:
        for target in made:
            os.unlink(target)
        raise
