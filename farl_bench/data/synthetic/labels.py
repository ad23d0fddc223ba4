"""Label vocabularies of the synthetic faces (re-exported by `face`, which is the public contract)."""
from __future__ import annotations

#: CelebA's 40 attribute names, in the file's column order.
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)

#: Expressions the renderer draws (AffectNet's 8; the 7 basic ones are all but contempt).
EXPRESSIONS = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")

#: CelebAMask-HQ part names (its file suffixes), in its painting order.
CELEBAMASK_PARTS = (
    "neck", "skin", "cloth", "l_ear", "r_ear", "l_brow", "r_brow", "l_eye", "r_eye", "nose",
    "mouth", "l_lip", "u_lip", "hair", "eye_g", "hat", "ear_r", "neck_l",
)

#: LaPa label ids 0..10.
LAPA_LABELS = (
    "background", "skin", "left_eyebrow", "right_eyebrow", "left_eye", "right_eye", "nose",
    "upper_lip", "inner_mouth", "lower_lip", "hair",
)

#: LaPa id of each CelebAMask-HQ part that LaPa labels. Ears count as skin; neck, cloth, hat and
#: jewellery are background; glasses are see-through (the eyes and skin under them keep their ids).
#: Painting these parts in CELEBAMASK_PARTS order gives `RenderedFace.lapa_label` exactly.
LAPA_FROM_PARTS = {
    "skin": 1, "l_ear": 1, "r_ear": 1, "l_brow": 2, "r_brow": 3, "l_eye": 4, "r_eye": 5,
    "nose": 6, "u_lip": 7, "mouth": 8, "l_lip": 9, "hair": 10,
}
